// patchlens's Jupyter widget (anywidget's `_esm`): the page's panel for the checkpoints the Python side
// holds. Settings live in the model (shared with Python and by every checkpoint shown); the module draws.
import { Session, loadModule } from './session.js';
import { CSS } from './style.js';

const VIEWS = [['filters', 'Filters'], ['pca', 'Principal components'], ['positions', 'Positions'], ['difference', 'Difference']];
/** Every setting that redraws when it changes, in Python or in the panel. */
const SETTINGS = ['view', 'normalize', 'channels', 'order', 'count', 'columns', 'zoom', 'gap', 'components', 'mode', 'tensor'];

const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};
const number = (v) => (Number.isNaN(v) ? 'NaN' : Number(v.toPrecision(4)).toString());
const megabytes = (n) => (n < 1e6 ? `${(n / 1e3).toFixed(1)} kB` : n < 1e9 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e9).toFixed(2)} GB`);

/** The module's options for checkpoint `i` from the model's settings (null: the module's default). */
function optionsOf(model, i) {
  const view = model.get('view');
  const given = (keys) => Object.fromEntries(keys.map((k) => [k, model.get(k)]).filter(([, v]) => v !== null && v !== undefined));
  const tensor = model.get('tensor')?.[i];
  const picked = tensor ? { tensor } : {};
  if (view === 'positions') return { view, ...given(['count', 'columns', 'zoom', 'gap', 'mode']) };
  if (view === 'pca') return { view, ...picked, ...given(['components', 'columns', 'zoom', 'gap']) };
  if (view === 'difference') return { ...picked, ...given(['count', 'columns', 'zoom', 'gap']) };
  return { ...picked, ...given(['normalize', 'channels', 'order', 'count', 'columns', 'zoom', 'gap']) };
}

/** Where a grid's tiles are (the module's layout: cells of kh × kw × zoom, `gap` apart; three apart with channels).
 *  The module has no hit test of its own, so this mirrors its layout rule, as the page's inspector does. */
function cells(grid) {
  const [kh, kw, c] = grid.filterShape;
  const parts = grid.channels && c === 3 ? 3 : 1;
  const cellW = parts * kw * grid.zoom + (parts - 1) * grid.gap;
  const cellH = kh * grid.zoom;
  return { cellW, cellH, pitchX: cellW + grid.gap, pitchY: cellH + (grid.caption ?? 0) + grid.gap };
}

/** Tile `index`'s box [x, y, width, height] on the canvas. */
function boxOf(grid, index) {
  const { cellW, cellH, pitchX, pitchY } = cells(grid);
  return [(index % grid.columns) * pitchX, Math.floor(index / grid.columns) * pitchY, cellW, cellH];
}

/** The tile under canvas pixel (x, y) as { index, box }, or null over a gap or an empty cell. */
function tileAt(grid, x, y) {
  const { cellW, cellH, pitchX, pitchY } = cells(grid);
  const [column, row] = [Math.floor(x / pitchX), Math.floor(y / pitchY)];
  if (x < 0 || y < 0 || x - column * pitchX >= cellW || y - row * pitchY >= cellH || column >= grid.columns) return null;
  const index = row * grid.columns + column;
  return index < grid.filtersShown ? { index, box: boxOf(grid, index) } : null;
}

/** The number the model's `selected`/`hovered` hold for tile `index`: the filter's index in the file (the
 *  component or position in those views). */
const filterOf = (grid, index) => grid.tiles?.[index]?.index ?? index;
const tileOf = (grid, filter) => (grid.tiles ? grid.tiles.findIndex((t) => t.index === filter) : filter);

/** The inspector's line on tile `index`: which filter, counted from 1, and its numbers. */
function describe(grid, index) {
  if (grid.view === 'pca') {
    return `Component ${index + 1} of ${grid.components} · explains ${(100 * grid.explainedVarianceRatio[index]).toFixed(2)} % of the variance`;
  }
  if (grid.view === 'positions' && grid.mode === 'dot') return `P·Pᵀ of the ${grid.gridRows * grid.gridCols} positions: pixel (i, j) is position i · position j`;
  if (grid.view === 'positions') {
    return `Position ${index + 1} of ${grid.gridRows * grid.gridCols} (row ${Math.floor(index / grid.gridCols) + 1}, column ${(index % grid.gridCols) + 1})`;
  }
  const t = grid.tiles[index];
  const numbers = `min ${number(t.min)} · max ${number(t.max)} · mean ${number(t.mean)} · L2 norm ${number(t.norm)}`;
  if (grid.similarity) return `Filter ${t.index + 1} of ${grid.filtersTotal} · cosine similarity ${number(grid.similarity[index])} · A − B: ${numbers}`;
  return `Filter ${t.index + 1} of ${grid.filtersTotal} · ${numbers}`;
}

function settingsBar(model, listen) {
  const bar = el('div', { className: 'pl-settings' });
  const bind = (input, key, read, write) => {
    input.dataset.setting = key;
    const show = () => write(model.get(key));
    input.addEventListener('change', () => {
      const value = read();
      if (value === undefined) return show(); // not a value: put the model's back
      model.set(key, value);
      model.save_changes();
    });
    listen(`change:${key}`, show);
    show();
    return input;
  };
  const choice = (key, label, options) => {
    const select = el('select', {}, ...options.map(([value, text]) => el('option', { value, textContent: text })));
    return el('label', { className: `pl-${key}` }, label, bind(select, key, () => select.value, (v) => { select.value = v; }));
  };
  const count = (key, label, min, nullable) => {
    const input = el('input', { type: 'number', min: String(min), step: '1', placeholder: nullable ? 'auto' : '' });
    const read = () => {
      if (input.value.trim() === '') return nullable ? null : undefined;
      const v = Number(input.value);
      return Number.isInteger(v) && v >= min ? v : undefined;
    };
    return el('label', { className: `pl-${key}` }, label, bind(input, key, read, (v) => { input.value = v ?? ''; }));
  };
  const box = el('input', { type: 'checkbox' });
  bar.append(
    choice('normalize', 'Normalize', [['filter', 'each filter'], ['global', 'whole kernel'], ['symmetric', 'symmetric (0 is grey)']]),
    el('label', { className: 'pl-channels' }, bind(box, 'channels', () => box.checked, (v) => { box.checked = Boolean(v); }), 'R/G/B apart'),
    choice('order', 'Order', [['file', 'as in the file'], ['norm', 'largest norm first']]),
    count('count', 'Count', 1, true), count('columns', 'Columns', 1, true), count('zoom', 'Zoom', 1, false),
    count('components', 'Components', 1, false),
    choice('mode', 'Similarity', [['cosine', 'cosine'], ['dot', 'dot product']]),
  );
  // Each view shows the settings it uses.
  const used = { filters: ['normalize', 'channels', 'order', 'count', 'columns', 'zoom'], pca: ['components', 'columns', 'zoom'],
    positions: ['mode', 'count', 'columns', 'zoom'], difference: ['count', 'columns', 'zoom'] };
  const showUsed = () => {
    for (const label of bar.children) label.hidden = !used[model.get('view')].some((k) => label.classList.contains(`pl-${k}`));
  };
  listen('change:view', showUsed);
  showUsed();
  return bar;
}

function viewSwitcher(model, checkpoints, listen) {
  const bar = el('div', { className: 'pl-views', role: 'group', ariaLabel: 'View' });
  const buttons = VIEWS.filter(([v]) => v !== 'difference' || checkpoints === 2).map(([value, text]) => {
    const button = el('button', { type: 'button', textContent: text });
    button.dataset.view = value;
    button.addEventListener('click', () => { model.set('view', value); model.save_changes(); });
    return button;
  });
  const show = () => buttons.forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.view === model.get('view'))));
  listen('change:view', show);
  show();
  bar.append(...buttons);
  return { bar, buttons };
}

/** One checkpoint's figure: title and tensor picker, canvas, inspector, status, error, PNG button. */
function figure(model, index) {
  const picker = el('select', { hidden: true, ariaLabel: 'Tensor' });
  const canvas = el('canvas', { width: 0, height: 0, tabIndex: 0 });
  const mark = el('div', { className: 'pl-mark', hidden: true });
  const parts = {
    title: el('span'), picker, canvas, mark,
    inspector: el('p', { className: 'pl-inspector' }), status: el('p', { className: 'pl-status' }),
    note: el('p', { className: 'pl-note' }), error: el('p', { className: 'pl-error', role: 'alert' }),
    png: el('button', { type: 'button', className: 'pl-png', textContent: 'Download PNG', hidden: true }),
    shown: null,
  };
  parts.root = el('figure', { className: 'pl-panel' },
    el('div', { className: 'pl-title' }, parts.title, picker, parts.png),
    el('div', { className: 'pl-stage' }, canvas, mark), parts.inspector, parts.status, parts.note, parts.error);
  picker.addEventListener('change', () => {
    const tensors = [...model.get('tensor')];
    tensors[index] = picker.value || null;
    model.set('tensor', tensors);
    model.save_changes();
  });
  parts.png.addEventListener('click', () => canvas.toBlob((blob) => {
    if (!blob) return;
    const url = URL.createObjectURL(blob);
    // "model.npz" → model-filters.png; a difference: a-minus-b-difference.png.
    const stem = (label) => label.split(' + ')[0].replace(/\.[^.]*$/, '').replace(/[^\w.-]+/g, '_');
    const name = `${parts.title.textContent.split(' − ').map(stem).join('-minus-')}-${parts.shown?.view ?? 'grid'}.png`;
    el('a', { href: url, download: name }).click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }, 'image/png'));
  return parts;
}

async function render({ model, el: host }) {
  const root = el('div', { className: 'patchlens' }, el('style', { textContent: CSS }));
  host.replaceChildren(root);
  const status = el('p', { className: 'pl-status', textContent: 'Loading the patchlens module…' });
  root.append(status);
  try {
    await loadModule(model.get('_module'));
  } catch (error) {
    status.className = 'pl-error';
    status.textContent = String(error?.message ?? error);
    return () => {};
  }
  const session = new Session(model);
  const offs = [];
  const listen = (event, handler) => { model.on(event, handler); offs.push(() => model.off(event, handler)); };
  const count = session.groups.length;
  const views = viewSwitcher(model, count, listen);
  const panels = el('div', { className: 'pl-panels' });
  const figures = session.groups.map((_, i) => figure(model, i));
  panels.append(...figures.map((f) => f.root));
  root.replaceChildren(root.firstChild, el('div', { className: 'pl-bar' }, views.bar), settingsBar(model, listen), panels);

  // Hover and click: the inspector line, and the model's `hovered` / `selected`.
  const pointed = (i, tile) => (tile === null ? null : { checkpoint: i, filter: filterOf(figures[i].shown, tile.index) });
  const same = (a, b) => a?.checkpoint === b?.checkpoint && a?.filter === b?.filter;
  const showTile = (f, grid, tile) => {
    f.mark.hidden = tile === null;
    f.inspector.textContent = tile === null ? '' : describe(grid, tile.index);
    if (tile) Object.assign(f.mark.style, Object.fromEntries(['left', 'top', 'width', 'height'].map((k, j) => [k, `${tile.box[j]}px`])));
  };
  const showSelected = () => figures.forEach((f, i) => {
    const s = model.get('selected');
    if (!f.shown || f.hovering) return;
    const tile = s?.checkpoint === i ? tileOf(f.shown, s.filter) : -1;
    showTile(f, f.shown, tile >= 0 && tile < f.shown.filtersShown ? { index: tile, box: boxOf(f.shown, tile) } : null);
  });
  figures.forEach((f, i) => {
    const at = (event) => (f.shown ? tileAt(f.shown, event.offsetX, event.offsetY) : null);
    f.canvas.addEventListener('mousemove', (event) => {
      const tile = at(event);
      f.hovering = tile !== null;
      if (tile === null) return showSelected();
      showTile(f, f.shown, tile);
      const now = pointed(i, tile);
      if (!same(now, model.get('hovered'))) { model.set('hovered', now); model.save_changes(); }
    });
    f.canvas.addEventListener('mouseleave', () => {
      f.hovering = false;
      if (model.get('hovered') !== null) { model.set('hovered', null); model.save_changes(); }
      showSelected();
    });
    f.canvas.addEventListener('click', (event) => {
      const tile = at(event);
      if (tile === null) return;
      model.set('selected', pointed(i, tile));
      model.save_changes();
    });
  });
  listen('change:selected', showSelected);

  // Drawing: one draw at a time; a change during one draws again once it is done.
  let drawing = null;
  let again = false;
  let listed = false;
  const redraw = async () => {
    if (drawing) { again = true; return drawing; }
    const view = model.get('view') === 'difference' && count !== 2 ? 'filters' : model.get('view');
    drawing = session.draw(view, (i) => optionsOf(model, i)).then((results) => show(view, results), (error) => {
      for (const f of figures) f.error.textContent = String(error?.message ?? error);
      root.dataset.state = 'failed';
    }).then(() => {
      drawing = null;
      if (again) { again = false; return redraw(); }
      if (!listed) { listed = true; return listTensors(); }
      return undefined;
    });
    return drawing;
  };
  const show = (view, results) => {
    figures.forEach((f, i) => {
      const r = results[i];
      f.root.hidden = !r;
      if (!r) return;
      f.title.textContent = r.label;
      f.error.textContent = r.error ?? '';
      f.png.hidden = !r.grid;
      f.shown = r.grid ? { ...r.grid, view } : null;
      if (r.grid) {
        f.canvas.width = r.grid.width;
        f.canvas.height = r.grid.height;
        if (r.grid.width > 0 && r.grid.height > 0) f.canvas.getContext('2d').putImageData(new ImageData(r.rgba, r.grid.width, r.grid.height), 0, 0);
        f.status.textContent = `${r.grid.tensor} · ${r.grid.dtype} · ${r.grid.shape.join(' × ')} · ${megabytes(r.bytes)} read of ${megabytes(r.size)}`;
        f.note.textContent = (r.grid.adjustments ?? []).map((a) => `${a.option}: ${a.note}.`).join(' ');
      } else {
        f.canvas.width = 0;
        f.canvas.height = 0;
        f.status.textContent = `${megabytes(r.bytes)} read of ${megabytes(r.size)}`;
        f.note.textContent = '';
      }
      f.canvas.dataset.drawn = String(Boolean(r.grid));
      f.canvas.parentElement.hidden = !r.grid; // a failed panel is its title, what was read, and the sentence
      f.inspector.hidden = !r.grid;
      f.hovering = false;
    });
    // The difference needs two kernels of one shape.
    const shapes = results.map((r) => (r.grid && (view === 'filters' || view === 'pca') ? r.grid.shape.join('×') : null));
    const diff = views.buttons.find((b) => b.dataset.view === 'difference');
    if (diff && view !== 'difference' && shapes.every(Boolean) && count === 2) {
      diff.disabled = shapes[0] !== shapes[1];
      diff.title = diff.disabled ? `The two kernels differ in shape (${shapes.join(' and ')}).` : '';
    }
    showSelected();
    root.dataset.state = 'drawn';
    root.dispatchEvent(new CustomEvent('patchlens:drawn', { bubbles: true }));
  };
  const listTensors = () => session.tensors().then((lists) => lists.forEach((names, i) => {
    const f = figures[i];
    if (names.length < 2) return;
    const current = model.get('tensor')?.[i] ?? '';
    f.picker.replaceChildren(el('option', { value: '', textContent: 'patch embedding (default)' }),
      ...names.map((n) => el('option', { value: n, textContent: n })));
    f.picker.value = current;
    f.picker.hidden = false;
  }), () => {}).finally(() => { root.dataset.listed = 'done'; });
  const onSetting = () => { redraw(); };
  for (const key of SETTINGS) listen(`change:${key}`, onSetting);
  listen('change:tensor', () => figures.forEach((f, i) => { if (!f.picker.hidden) f.picker.value = model.get('tensor')?.[i] ?? ''; }));
  redraw(); // not awaited: the cleanup is anywidget's at once, and each draw reports itself in the panel
  return () => {
    for (const off of offs) off();
    session.close();
  };
}

export default { render };
