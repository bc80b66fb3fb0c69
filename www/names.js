// How the page and its worker name things: what was opened by address (before the module has read anything),
// sizes and shapes.

/** The last part of a URL's path, as panels and sentences name its file; anything else (a model id) stays itself. */
export function urlName(url) {
  if (!/^https?:\/\//i.test(url)) return url;
  try {
    const parts = new URL(url).pathname.split('/').filter(Boolean);
    return decodeURIComponent(parts[parts.length - 1] ?? new URL(url).host);
  } catch {
    return url;
  }
}

/** A size in bytes as people read it: `9.44 MB`. */
export function humanBytes(n) {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = n;
  let unit = -1;
  while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
  return `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** A shape as the page writes it: `16×16×3×768`. */
export const dims = (shape) => shape.join('×');
