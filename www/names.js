// How the page and its worker name what was opened by address, before the module has read anything.

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
