/** Adds `value` to the list at `key`, creating the list; in place, so n additions cost O(n). */
export function append<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
