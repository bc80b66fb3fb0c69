// A panel's tensor picker: what the worker listed of its checkpoint (`panel.tensorList`), filtered by the Find
// box and "show all", with the reasons written out when nothing can be drawn. An `.npz` from S3 or GCS is first
// listed by names and sizes only (its zip directory; each header would be a request of its own): its entries are
// pickable before their shapes are known, and "Read every shape" asks for the rest. app.js decides when to list.
import { dims, humanBytes } from './names.js';

/** The picker gets a filter box once it would list more than this many entries. */
const FILTER_BOX_AFTER = 20;
/** How many undrawable tensors the page names, with their reasons, when nothing can be drawn. */
const REASONS_SHOWN = 8;

/** An entry listed by name and size only: its header is not read yet. */
const unread = (t) => t.unreadBytes !== undefined;
/** Offered in the picker without "show all": drawable, or not known yet (drawing it reads its header). */
const pickable = (t) => t.drawable || unread(t);

function label(t, defaultName) {
  let text = unread(t) ? `${t.name} — ${humanBytes(t.unreadBytes)}, shape not read yet`
    : t.dtype ? `${t.name} — ${t.dtype} ${dims(t.shape)}` : t.name;
  if (t.layoutInferred) text += ` (read as ${t.layout.toUpperCase()})`;
  if (t.name === defaultName) text += ' · default';
  return pickable(t) ? text : `${text} — ${t.reason ?? 'not drawable'}`;
}

function optionTitle(t) {
  if (unread(t)) return 'Its dtype and shape are read when it is drawn, or with “Read every shape”.';
  return t.drawable ? (t.recognized ?? '') : (t.reason ?? 'This tensor cannot be drawn as filters.');
}

/** What the count beside "show all" says. */
function countText(all, drawable, unreadCount) {
  if (unreadCount === 0) return `(${drawable.length} drawable of ${all.length})`;
  return `(${all.length} tensors; ${unreadCount === all.length ? 'no' : `${all.length - unreadCount} of ${all.length}`} shapes read)`;
}

/**
 * Fills a panel's tensor picker from its list: drawable tensors (and those not read yet) unless "show all" is
 * ticked (the rest then follow, disabled, with their reasons), narrowed by the filter box, the default marked.
 * Until the list arrives (`tensorList` null) it shows just the drawn tensor; `data-listed` on the select says
 * which: 'none', 'pending', 'names' (names and sizes, some shapes not read) or 'done'. When nothing can be drawn,
 * the reasons are written out beside the picker.
 */
export function fillTensorList(panel) {
  const selected = panel.shown?.grid.tensor ?? null;
  const listed = panel.tensorList;
  const all = listed ?? (selected ? [{ name: selected, drawable: true }] : []);
  const drawable = all.filter((t) => t.drawable);
  const unreadCount = all.filter(unread).length;
  const offered = all.filter(pickable);
  if (listed && offered.length === 0) panel.showAll.checked = true; // an empty picker would hide the reasons
  const visible = panel.showAll.checked ? all : offered;
  const needle = panel.filter.value.trim().toLowerCase();
  const matching = visible.filter((t) => !needle || t.name.toLowerCase().includes(needle) || t.name === selected);
  const defaultName = panel.shown?.checkpoint.defaultTensor;
  const options = matching.map((t) => {
    const option = new Option(label(t, defaultName), t.name);
    option.disabled = !pickable(t);
    option.title = optionTitle(t);
    return option;
  });
  panel.tensor.replaceChildren(...options);
  panel.tensor.value = selected ?? '';
  panel.tensor.disabled = !listed || options.every((o) => o.disabled && !panel.showAll.checked);
  panel.tensor.dataset.listed = !listed ? (selected ? 'pending' : 'none') : unreadCount > 0 ? 'names' : 'done';
  panel.filterLabel.hidden = visible.length <= FILTER_BOX_AFTER && !needle;
  panel.tensorCount.textContent = listed ? countText(all, drawable, unreadCount) : '';
  const requests = panel.unreadRequests ?? 0;
  panel.readShapes.hidden = !listed || unreadCount === 0;
  panel.readShapes.textContent = `Read every shape (${requests} ${requests === 1 ? 'request' : 'requests'})`;
  showReasons(panel, listed && offered.length === 0 ? all : null);
}

/** Writes out why nothing in a panel's checkpoint can be drawn: 4-D tensors first, as the likeliest filters. */
function showReasons(panel, undrawable) {
  panel.reasons.hidden = !undrawable;
  if (!undrawable) return;
  const name = panel.title.textContent || 'this checkpoint';
  const count = undrawable.length;
  panel.reasonsTitle.textContent = count === 0
    ? `${name} holds no tensors.`
    : `Nothing in ${name} can be drawn as filters (${count} ${count === 1 ? 'tensor' : 'tensors'}):`;
  const likely = [...undrawable].sort((a, b) => (b.shape?.length === 4) - (a.shape?.length === 4));
  const items = likely.slice(0, REASONS_SHOWN).map((t) => Object.assign(document.createElement('li'), {
    textContent: `${t.name}${t.dtype ? ` (${t.dtype} ${dims(t.shape)})` : ''}: ${t.reason ?? 'not drawable'}`,
  }));
  if (count > REASONS_SHOWN) {
    items.push(Object.assign(document.createElement('li'), {
      textContent: `…and ${count - REASONS_SHOWN} more, listed with their reasons in the picker below.`,
    }));
  }
  panel.reasonsList.replaceChildren(...items);
}
