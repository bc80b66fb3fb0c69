// Wires the page: drops, the file picker and the sample go to the worker (through bridge.js); the
// pixels that come back are put on each panel's canvas. Parsing, scaling and layout all happen in the module.
// One panel per checkpoint among the files opened together (the shards of one checkpoint share a panel).
import { CheckpointBridge } from './bridge.js';
import { dims, humanBytes, urlName } from './names.js';
import { fillTensorList } from './tensor-list.js';
import {
  clearAlert, emptyCanvas, number, pageWords, pixelRatio, placeTicks, putPixels, setStatus, showAlert, showColorbar, showScree,
} from './panel.js';

const SAMPLE_URL = 'samples/dinov2-vits14-patch-embed.npz';

const $ = (id) => document.getElementById(id);
const ui = {
  fileInput: $('file-input'), pickButton: $('pick-button'), sampleButton: $('sample-button'),
  controls: $('controls'), panels: $('panels'),
  count: $('count'), columns: $('columns'), zoom: $('zoom'), fit: $('fit'), gap: $('gap'), gapColor: $('gap-color'),
  view: $('view'), components: $('components'), normalize: $('normalize'), order: $('order'), channels: $('channels'),
  extraTokens: $('extra-tokens'), positionGrid: $('position-grid'), positionGridNote: $('position-grid-note'),
  link: $('link'), editing: $('editing'),
  urlForm: $('url-form'), urlInput: $('url-input'), openErrorRetry: $('open-error-retry'),
  fetchProgress: $('fetch-progress'), fetchProgressText: $('fetch-progress-text'), fetchProgressBar: $('fetch-progress-bar'),
  fetchCancel: $('fetch-cancel'),
  download: $('download'), compare: $('compare'), difference: $('difference'), openError: $('open-error'), openErrorText: $('open-error-text'), openErrorClose: $('open-error-close'),
};
/** The number fields, by the option name the module reports adjustments under, with the page's label. */
const NUMBER_FIELDS = [
  { option: 'count', input: ui.count, label: 'Filters' }, { option: 'columns', input: ui.columns, label: 'Columns' },
  { option: 'zoom', input: ui.zoom, label: 'Zoom' }, { option: 'gap', input: ui.gap, label: 'Gap' },
];
/** CSS pixels under each row of the difference panel for each tile's similarity, and the text's size (both
 *  times the device pixel ratio on the canvas, whose pixels are device pixels). */
const CAPTION_BAND = 14;
const CAPTION_FONT = '11px system-ui, sans-serif';
const captionFont = (ratio) => `${Math.round(11 * ratio)}px system-ui, sans-serif`;

const bridge = new CheckpointBridge(new URL('./worker.js', import.meta.url));
// First of all, so the worker and its module load while the rest of the page is wired: a first visit's sample
// is drawn that much sooner. The sample is fetched now too, unless the address asks for something else.
bridge.warm();
const pageParams = new URLSearchParams(location.search);
let sampleFetch = pageParams.getAll('url').some(Boolean) || pageParams.get('sample') === 'none' ? null : fetch(SAMPLE_URL);

/**
 * The panels on the page, in order; panel 0 is the static one in index.html (its elements keep their ids).
 * Each holds its elements plus: shown: { checkpoint, grid } | null (what its canvas shows), tensorList:
 * TensorInfo[] | null (null until listed), isSample, shownStatus (the status text of what is shown), settings
 * (the controls it is drawn with: `readControls()`; its own while panels are not linked) and pointer (the
 * canvas pixel under the mouse, for the position view's readout).
 */
const panels = [panelOf(document.querySelector('.panel[data-panel="0"]'))];
const template = panels[0].section.cloneNode(true); // pristine copy for further panels
let openSeq = 0; // bumps on every open, so a slow sample fetch cannot overwrite a later drop

function panelOf(section) {
  const q = (selector) => section.querySelector(selector);
  const panel = {
    section, head: q('.panel-head'), title: q('.panel-title'), headDownload: q('.panel-download'),
    alert: q('.alert'), status: q('.status'), tensor: q('.tensor'), layout: q('.layout'), notes: q('.notes'),
    canvas: q('.grid'), stage: q('.stage'), emptyNote: q('.empty-note'), overflowNote: q('.overflow-note'),
    attribution: q('.attribution'), reasons: q('.reasons'), colorbar: q('.colorbar'), scree: q('.scree'),
    progress: q('.progress'), reasonsTitle: q('.reasons-title'), retry: q('.retry'),
    reasonsList: q('.reasons-list'), filter: q('.tensor-filter'), filterLabel: q('.tensor-filter-label'),
    showAll: q('.show-all'), tensorCount: q('.tensor-count'), readShapes: q('.read-shapes'), mark: q('.tile-mark'), readout: q('.tile-readout'),
    shown: null, tensorList: null, isSample: false, shownStatus: null, current: null, settings: null, pointer: null,
    opened: false, // a checkpoint is open in this panel (drawn or not): a change of settings redraws it
  };
  // Pointer positions are CSS pixels; the grid's are canvas pixels, `shown.ratio` to one CSS pixel.
  const canvasPoint = (event) => ({ x: event.offsetX * (panel.shown?.ratio ?? 1), y: event.offsetY * (panel.shown?.ratio ?? 1) });
  panel.canvas.addEventListener('mousemove', (event) => {
    panel.pointer = canvasPoint(event);
    markTile(panel, tileAt(panel, panel.pointer.x, panel.pointer.y));
  });
  panel.canvas.addEventListener('mouseleave', () => {
    panel.pointer = null;
    if (document.activeElement !== panel.canvas) markTile(panel, null);
  });
  panel.canvas.addEventListener('click', (event) => {
    const { x, y } = canvasPoint(event);
    const index = tileAt(panel, x, y);
    if (index !== null) openInspector(panel, index);
  });
  panel.canvas.addEventListener('focus', () => markTile(panel, panel.current ?? 0));
  panel.canvas.addEventListener('blur', () => markTile(panel, null));
  panel.canvas.addEventListener('keydown', (event) => {
    if (!panel.shown) return;
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      openInspector(panel, panel.current ?? 0);
      return;
    }
    const next = step(panel, panel.current ?? 0, event.key);
    if (next === null) return;
    event.preventDefault();
    panel.pointer = null; // the keyboard names whole tiles
    markTile(panel, next);
  });
  panel.tensor.addEventListener('input', () => rerender());
  panel.layout.addEventListener('input', () => rerender());
  panel.showAll.addEventListener('input', () => fillTensorList(panel));
  panel.readShapes.addEventListener('click', () => {
    panel.readShapes.disabled = true;
    listTensors(panel, panels.indexOf(panel), openSeq, { everyShape: true }).finally(() => { panel.readShapes.disabled = false; });
  });
  panel.filter.addEventListener('input', () => fillTensorList(panel));
  panel.headDownload.addEventListener('click', () => download(panel));
  panel.retry.addEventListener('click', () => retryOpen());
  return panel;
}

/** The panel showing A − B of the first two, while "Compare" is ticked; not one of `panels` (no checkpoint). */
let differencePanel = null;

function showDifferencePanel(on) {
  if (!on) {
    differencePanel?.section.remove();
    differencePanel = null;
    return;
  }
  if (differencePanel) return;
  const section = template.cloneNode(true);
  section.dataset.panel = 'difference';
  section.classList.add('difference');
  section.querySelectorAll('[id]').forEach((el) => el.removeAttribute('id'));
  ui.panels.append(section);
  differencePanel = panelOf(section);
  differencePanel.head.hidden = false;
}

/** Makes exactly `count` panels: extra ones are copies of the first without ids; surplus ones go. */
function setPanelCount(count) {
  while (panels.length > Math.max(count, 1)) panels.pop().section.remove();
  while (panels.length < count) {
    const section = template.cloneNode(true);
    section.dataset.panel = String(panels.length);
    section.querySelectorAll('[id]').forEach((el) => el.removeAttribute('id'));
    ui.panels.append(section);
    panels.push(panelOf(section));
  }
  for (const panel of panels) panel.head.hidden = panels.length < 2;
  ui.compare.hidden = panels.length < 2;
  if (panels.length < 2) ui.difference.checked = false;
  showDifferencePanel(ui.difference.checked);
  showPanelControls();
}

// ---- one set of settings, or one per panel -------------------------------------------------------------

/** True while the controls set every panel; otherwise they set the panel chosen under "Settings of". */
const linked = () => ui.link.checked || panels.length < 2;

/** The panels the controls set now. */
const governed = () => (linked() ? panels : [panels[Number(ui.editing.value)] ?? panels[0]]);

/** Shows the link switch (two or more panels) and, unlinked, which panel the controls are for. */
function showPanelControls() {
  ui.controls.classList.toggle('panels', panels.length > 1);
  ui.controls.classList.toggle('unlinked', !linked());
  const chosen = Math.min(Number(ui.editing.value) || 0, panels.length - 1);
  ui.editing.replaceChildren(...panels.map((panel, i) => new Option(
    `${i + 1}: ${panel.title.textContent || 'panel'}`, String(i),
  )));
  ui.editing.value = String(chosen);
  panels.forEach((panel, i) => panel.section.classList.toggle('editing', !linked() && i === chosen));
}

// ---- options -------------------------------------------------------------------------------------

/** The width a grid may take in a panel without scrolling: the stage's inner width (all panels share it). */
function stageWidth() {
  const stage = panels[0].stage;
  const style = getComputedStyle(stage);
  const chrome = ['paddingLeft', 'paddingRight', 'borderLeftWidth', 'borderRightWidth']
    .reduce((sum, key) => sum + parseFloat(style[key]), 0);
  return Math.max(1, Math.floor(ui.panels.clientWidth - chrome));
}

/** The controls a panel's settings are made of, by the name each has in them. */
const SETTING_CONTROLS = ['view', 'components', 'normalize', 'order', 'channels', 'count', 'columns', 'zoom', 'fit',
  'gap', 'gapColor', 'extraTokens', 'positionGrid'];
const controlValue = (input) => (input.type === 'checkbox' ? 'checked' : 'value');

/** What the controls say, as one object: a panel keeps a copy to be drawn with (its own, when unlinked). A
 *  corrected field says what is drawn, so that is what a redraw asks for (the request itself comes back for
 *  the next file, from `dataset.requested`). */
function readControls() {
  return Object.fromEntries(SETTING_CONTROLS.map((name) => [name, ui[name][controlValue(ui[name])]]));
}

/** Puts a panel's settings into the controls (choosing it under "Settings of"). */
function writeControls(settings) {
  for (const { input, option } of NUMBER_FIELDS) {
    delete input.dataset.requested;
    $(`${option}-note`).textContent = '';
  }
  for (const name of SETTING_CONTROLS) ui[name][controlValue(ui[name])] = settings[name];
}

/** A whole number typed in a field (negative ones as 0, which the module raises to its minimum); null when the
 *  text is not one. Ranges are the module's to enforce: it reports what it changed. */
function wholeText(text) {
  const value = Number(text);
  return text === '' || !Number.isInteger(value) ? null : Math.max(0, value);
}

/** "16x12" (or 16×12, 16 x 12) as [rows, columns]; null for an empty field, undefined for anything else. */
function positionGrid(text) {
  if (text.trim() === '') return null;
  const match = /^\s*(\d+)\s*[x×*,]\s*(\d+)\s*$/i.exec(text);
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}

/** A panel's settings (`null` panel: the controls', for an open) plus its tensor and layout, as RenderOptions. */
function renderOptions(panel, settings = panel?.settings ?? readControls()) {
  // Fitting counts device pixels: a phone's 360-px box holds 1080 of them at a ratio of 3.
  const zoom = settings.fit ? { fitWidth: Math.floor(stageWidth() * pixelRatio()) } : { zoom: wholeText(settings.zoom) };
  const picked = { tensor: panel?.tensor.value || null, layout: panel?.layout.value || null };
  let fields;
  if (settings.view === 'pca') {
    // The paper's figure: the components 7 to a row; the gap and its colour as set.
    fields = { view: 'pca', components: wholeText(settings.components), gap: wholeText(settings.gap),
      gapColor: settings.gapColor, ...picked, ...zoom };
  } else if (settings.view !== 'filters') {
    // The position figure: every position, a row of tiles per grid row, 1-px black gaps; zoom as set.
    fields = { view: 'positions', mode: settings.view === 'positions-dot' ? 'dot' : 'cosine',
      extraTokens: wholeText(settings.extraTokens), positionGrid: positionGrid(settings.positionGrid) ?? null, ...zoom };
  } else {
    fields = {
      count: wholeText(settings.count), columns: wholeText(settings.columns), gap: wholeText(settings.gap),
      gapColor: settings.gapColor, normalize: settings.normalize, order: settings.order, channels: settings.channels,
      ...picked, ...zoom,
    };
  }
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== null));
}

/** The input's value as a whole number, or null (see `wholeText`). */
const whole = (input) => wholeText(input.value);

/** True when every number field in use holds a whole number, i.e. a redraw would show what the controls say. */
function controlsComplete() {
  const grid = positionGrid(ui.positionGrid.value);
  ui.positionGridNote.textContent = grid === undefined ? 'Grid: rows × columns, such as 16x12, or empty for square.' : '';
  return grid !== undefined
    && NUMBER_FIELDS.every(({ input }) => (input === ui.zoom && ui.fit.checked) || whole(input) !== null);
}

/**
 * Puts the values the module used back into the fields, with a note saying why. With several panels a field
 * changes only when every panel had to adjust it, to the largest value used (so no panel loses filters).
 */
function showAdjustments(grids) {
  for (const { option, input, label } of NUMBER_FIELDS) {
    if (ui.view.value !== 'filters' && option !== 'zoom' && !(ui.view.value === 'pca' && option === 'gap')) continue;
    const note = $(`${option}-note`);
    if (option === 'zoom' && ui.fit.checked) {
      input.value = String(grids[0].zoom); // the field says what fit chose
      note.textContent = '';
      continue;
    }
    const adjusted = grids.map((grid) => grid.adjustments.find((a) => a.option === option));
    if (grids.length === 0 || adjusted.some((a) => !a)) {
      // Fitted with R, G, B apart, a filter takes three tiles of the columns (the module's rule): said, not corrected.
      const split = option === 'columns' && ui.fit.checked && grids[0]?.channels && grids[0].columns < whole(input);
      note.textContent = split ? `Columns: ${grids[0].columns} filters a row, three tiles each, to fit the width.` : '';
      continue;
    }
    const widest = adjusted.reduce((best, a) => (a.value > best.value ? a : best));
    input.dataset.requested ??= input.value; // what the user asked for comes back for the next file
    input.value = String(widest.value);
    note.textContent = `${label}: ${widest.note}.`;
  }
}

// ---- the inspector: what a tile is ---------------------------------------------------------------------

/** Where a panel's tiles are: each cell (a filter, or its three channels apart) and the step to the next one. */
function cells(grid) {
  const [kh, kw, c] = grid.filterShape;
  const parts = grid.channels && c === 3 ? 3 : 1;
  const tileW = kw * grid.zoom;
  const cellW = parts * tileW + (parts - 1) * grid.gap;
  const cellH = kh * grid.zoom;
  return { kh, kw, c, parts, tileW, cellW, cellH, pitchX: cellW + grid.gap, pitchY: cellH + (grid.caption ?? 0) + grid.gap };
}

/** The tile under canvas pixel (x, y), or null over a gap or an empty cell. */
function tileAt(panel, x, y) {
  const grid = panel.shown?.grid;
  if (!grid) return null;
  const g = cells(grid);
  const [column, row] = [Math.floor(x / g.pitchX), Math.floor(y / g.pitchY)];
  if (x - column * g.pitchX >= g.cellW || y - row * g.pitchY >= g.cellH || column >= grid.columns) return null;
  const index = row * grid.columns + column;
  return index < grid.filtersShown ? index : null;
}

/** The tile an arrow key moves to from `index`, or null for other keys. */
function step(panel, index, key) {
  const { columns, filtersShown } = panel.shown.grid;
  const moves = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns, ArrowDown: columns, Home: -index, End: filtersShown - 1 - index };
  if (!(key in moves)) return null;
  return Math.min(Math.max(index + moves[key], 0), filtersShown - 1);
}

/** One line on a tile: which filter it is, and its raw numbers. */
function describeTile(grid, index) {
  const t = grid.tiles[index];
  if (grid.view === 'difference') {
    return `Tile ${index + 1}, least similar first: filter ${t.index + 1} of ${grid.filtersTotal} · cosine similarity `
      + `${number(grid.similarity[index])} · A − B: min ${number(t.min)} · max ${number(t.max)} · L2 norm ${number(t.norm)}`;
  }
  const which = grid.order === 'file' ? `Filter ${t.index + 1}` : `Tile ${index + 1} by norm: filter ${t.index + 1}`;
  return `${which} of ${grid.filtersTotal} · min ${number(t.min)} · max ${number(t.max)} · mean ${number(t.mean)} · L2 norm ${number(t.norm)}`;
}

/** Outlines tile `index` (null: none) and says what it is under the grid. */
function markTile(panel, index) {
  const grid = panel.shown?.grid;
  const known = grid?.tiles?.[index]
    || (['positions', 'pca'].includes(grid?.view) && index !== null && index < grid.filtersShown);
  if (!grid || index === null || !known) {
    panel.mark.hidden = true;
    panel.readout.textContent = '';
    return;
  }
  panel.current = index;
  const g = cells(grid);
  const [column, row] = [index % grid.columns, Math.floor(index / grid.columns)];
  const css = (canvasPixels) => `${canvasPixels / panel.shown.ratio}px`;
  Object.assign(panel.mark.style, {
    left: `${panel.canvas.offsetLeft + (column * g.pitchX) / panel.shown.ratio}px`,
    top: `${panel.canvas.offsetTop + (row * g.pitchY) / panel.shown.ratio}px`,
    width: css(g.cellW), height: css(g.cellH),
  });
  panel.mark.hidden = false;
  panel.readout.textContent = grid.view === 'positions' ? describePosition(grid, index, pairAt(panel, index))
    : grid.view === 'pca' ? `Component ${index + 1}: explains ${(100 * grid.explainedVarianceRatio[index]).toFixed(2)} % of the variance`
      : describeTile(grid, index);
}

/** A position and its place in the grid, as the readout names it (counted from 1, as everything on the page). */
const positionName = (grid, p) => `position ${p + 1} (row ${Math.floor(p / grid.gridCols) + 1}, column ${(p % grid.gridCols) + 1})`;

/** The two positions behind the pixel under the pointer in tile `index` of a position view, and their number;
 *  null without a pointer or over a gap. */
function pairAt(panel, index) {
  const grid = panel.shown.grid;
  if (!panel.pointer || !grid.values) return null;
  const n = grid.gridRows * grid.gridCols;
  const g = cells(grid);
  const [x, y] = [panel.pointer.x - (index % grid.columns) * g.pitchX, panel.pointer.y - Math.floor(index / grid.columns) * g.pitchY];
  const [i, j] = [Math.floor(y / grid.zoom), Math.floor(x / grid.zoom)];
  if (x < 0 || y < 0 || i >= g.kh || j >= g.kw) return null;
  const [a, b] = grid.mode === 'dot' ? [i, j] : [index, i * grid.gridCols + j];
  return a < n && b < n ? { a, b, value: grid.values[a * n + b] } : null;
}

const capitalized = (text) => text.charAt(0).toUpperCase() + text.slice(1);

/** One line on a tile of the position view: the position it stands for, and the pixel under the pointer. */
function describePosition(grid, index, pair) {
  const what = grid.mode === 'dot' ? 'P·Pᵀ' : 'cosine similarity';
  if (pair) {
    return `${positionName(grid, pair.a)} · ${positionName(grid, pair.b)}: ${what} ${number(pair.value)}`;
  }
  if (grid.mode === 'dot') return `P·Pᵀ of the ${grid.gridRows * grid.gridCols} positions: pixel (i, j) is position i · position j`;
  return `${capitalized(positionName(grid, index))}: each pixel is its cosine similarity with the position at that place`;
}

/** A tile's pixels at zoom 1 from the grid's pixels (kept as drawn: the canvas is never read back): its RGB
 *  image and, for colour filters, each channel in grey. */
function tileImages(panel, index) {
  const { grid, pixels } = panel.shown;
  const g = cells(grid);
  const [column, row] = [index % grid.columns, Math.floor(index / grid.columns)];
  const [left, top] = [column * g.pitchX, row * g.pitchY];
  const at = (part, x, y) => ((top + y * grid.zoom) * grid.width + left + part * (g.tileW + grid.gap) + x * grid.zoom) * 4;
  const image = (pick) => {
    const out = new ImageData(g.kw, g.kh);
    for (let y = 0; y < g.kh; y += 1) {
      for (let x = 0; x < g.kw; x += 1) out.data.set([...pick(x, y), 255], (y * g.kw + x) * 4);
    }
    return out;
  };
  const rgb = image((x, y) => (g.parts === 3
    ? [0, 1, 2].map((p) => pixels[at(p, x, y)])
    : [...pixels.subarray(at(0, x, y), at(0, x, y) + 3)]));
  const planes = g.c === 3 ? [0, 1, 2].map((ch) => image((x, y) => {
    const v = g.parts === 3 ? pixels[at(ch, x, y)] : pixels[at(0, x, y) + ch];
    return [v, v, v];
  })) : [];
  return { rgb, planes };
}

/** Draws `image` onto `canvas` enlarged `scale` times, pixel for pixel. */
function drawEnlarged(canvas, image, scale) {
  const small = Object.assign(document.createElement('canvas'), { width: image.width, height: image.height });
  small.getContext('2d').putImageData(image, 0, 0);
  canvas.width = image.width * scale;
  canvas.height = image.height * scale;
  const context = canvas.getContext('2d');
  context.imageSmoothingEnabled = false;
  context.drawImage(small, 0, 0, canvas.width, canvas.height);
}

const inspector = {
  dialog: $('inspector'), title: $('inspector-title'), close: $('inspector-close'), tile: $('inspector-tile'),
  channels: [...document.querySelectorAll('#inspector .channel')], numbers: $('inspector-numbers'), panel: null,
  tileCaption: $('inspector-tile-caption'),
};

/** The inspector's title and numbers for tile `index` of a grid, by view. */
function inspectorText(grid, index) {
  const place = ['place in the grid', `tile ${index + 1} of ${grid.filtersShown}, row ${Math.floor(index / grid.columns) + 1}, column ${(index % grid.columns) + 1}`];
  if (grid.view === 'pca') {
    const ratio = grid.explainedVarianceRatio;
    const upTo = ratio.slice(0, index + 1).reduce((sum, r) => sum + r, 0);
    return {
      title: `Component ${index + 1} of ${grid.components} — ${grid.tensor}`,
      rows: [place, ['explained variance', `${(100 * ratio[index]).toFixed(3)} %`],
        [`components 1…${index + 1} together`, `${(100 * upTo).toFixed(2)} %`],
        ['scaled', 'min–max over the component, as a filter'], ['shape', grid.filterShape.join(' × ')]],
    };
  }
  if (grid.view === 'positions') {
    const n = grid.gridRows * grid.gridCols;
    const base = [['positions', `${grid.gridRows} × ${grid.gridCols}, after ${grid.extraTokens} extra ${grid.extraTokens === 1 ? 'token' : 'tokens'}`],
      ['colour map', `${grid.colorbar.colormap}, ${number(grid.colorbar.min)} … ${number(grid.colorbar.max)}`]];
    if (grid.mode === 'dot') return { title: `P·Pᵀ of ${grid.tensor}`, rows: [...base, ['image', `${n} × ${n}: pixel (i, j) is position i · position j`]] };
    const others = [...grid.values.subarray(index * n, (index + 1) * n)].map((value, p) => ({ value, p }))
      .filter(({ p, value }) => p !== index && !Number.isNaN(value)).sort((a, b) => b.value - a.value);
    const named = (o) => (o ? `${positionName(grid, o.p)}, ${number(o.value)}` : 'none');
    return {
      title: `${capitalized(positionName(grid, index))} — ${grid.tensor}`,
      rows: [place, ['token index in the tensor (from 0)', String(grid.extraTokens + index)], ...base,
        ['most similar other', named(others[0])], ['least similar', named(others[others.length - 1])]],
    };
  }
  const t = grid.tiles[index];
  return {
    title: `Filter ${t.index + 1} of ${grid.filtersTotal} — ${grid.tensor}`,
    rows: [place, ['index in the file (from 0)', String(t.index)], ['min', number(t.min)], ['max', number(t.max)], ['mean', number(t.mean)], ['L2 norm', number(t.norm)],
      ['shape', grid.filterShape.join(' × ')], ['dtype', grid.dtype]],
  };
}

/** Opens tile `index` of a panel large, with its channels (colour filters and components) and numbers. */
function openInspector(panel, index) {
  const grid = panel.shown?.grid;
  if (!grid || index === null || index >= grid.filtersShown) return;
  if (grid.view !== 'pca' && grid.view !== 'positions' && !grid.tiles?.[index]) return;
  inspector.panel = panel;
  markTile(panel, index);
  const { rgb, planes } = tileImages(panel, index);
  const colourMapped = grid.view === 'positions'; // one colour map, not three channels
  const scale = Math.max(1, Math.floor(192 / Math.max(rgb.width, rgb.height)));
  drawEnlarged(inspector.tile, rgb, scale);
  inspector.tileCaption.textContent = colourMapped ? grid.colorbar.colormap : 'RGB';
  inspector.channels.forEach((figure, ch) => {
    figure.hidden = planes.length === 0 || colourMapped;
    if (planes[ch] && !colourMapped) drawEnlarged(figure.querySelector('canvas'), planes[ch], Math.max(1, Math.floor(scale / 2)));
  });
  const { title, rows } = inspectorText(grid, index);
  inspector.title.textContent = title;
  inspector.numbers.replaceChildren(...rows.flatMap(([term, value]) => [
    Object.assign(document.createElement('dt'), { textContent: term }),
    Object.assign(document.createElement('dd'), { textContent: value }),
  ]));
  if (!inspector.dialog.open) inspector.dialog.showModal();
}

inspector.close.addEventListener('click', () => inspector.dialog.close());
inspector.dialog.addEventListener('keydown', (event) => {
  const panel = inspector.panel;
  if (!panel?.shown) return;
  const next = step(panel, panel.current ?? 0, event.key);
  if (next === null) return;
  event.preventDefault();
  openInspector(panel, next);
});
inspector.dialog.addEventListener('close', () => inspector.panel?.canvas.focus());

// ---- the page address keeps the settings -------------------------------------------------------------

/** The settings kept in the page address (`#normalize=symmetric&order=norm&count=64`), with their defaults. */
const HASH_FIELDS = [
  ['view', () => ui.view, 'filters'], ['k', () => ui.components, '28'], ['normalize', () => ui.normalize, 'filter'], ['order', () => ui.order, 'file'], ['channels', () => ui.channels, false],
  ['count', () => ui.count, '128'], ['columns', () => ui.columns, '16'], ['zoom', () => ui.zoom, null],
  ['gap', () => ui.gap, '2'], ['gap-color', () => ui.gapColor, '#1b1e24'], ['extra', () => ui.extraTokens, ''],
  ['grid', () => ui.positionGrid, ''],
];

/** Writes the settings that differ from the defaults into the address, so a reload or a shared link keeps them. */
function saveSettings() {
  const params = new URLSearchParams();
  for (const [key, field, fallback] of HASH_FIELDS) {
    const input = field();
    if (input.type === 'checkbox') { if (input.checked) params.set(key, '1'); continue; }
    if (key === 'zoom') { if (!ui.fit.checked) params.set(key, input.value); continue; }
    const value = input.dataset.requested ?? input.value; // what was asked for, not a correction for one kernel
    if (value !== fallback) params.set(key, value);
  }
  const hash = params.toString();
  if (hash === location.hash.slice(1)) return; // replaceState costs milliseconds even when nothing changes
  history.replaceState(null, '', hash ? `#${hash}` : location.pathname + location.search);
}

/** Puts the settings from the address into the controls (a zoom given there turns fitting off). */
function loadSettings() {
  const params = new URLSearchParams(location.hash.slice(1));
  for (const [key, field] of HASH_FIELDS) {
    if (!params.has(key)) continue;
    const input = field();
    const value = params.get(key);
    if (input.type === 'checkbox') input.checked = value === '1';
    else if (input.tagName === 'SELECT') { if ([...input.options].some((o) => o.value === value)) input.value = value; }
    else input.value = value;
    if (key === 'zoom') ui.fit.checked = false;
  }
}

// ---- status, alert, canvas ----------------------------------------------------------------------

/** How the status line names a normalisation other than the notebook's. */
const VIEW_WORDS = { filter: '', global: ', scaled over the whole kernel', symmetric: ', symmetric (0 = grey)' };

/** Empties a panel: nothing drawn, nothing said about a grid (the checkpoint may still be open: `opened`). */
function clearGrid(panel) {
  panel.shown = null;
  panel.shownStatus = null;
  emptyCanvas(panel);
  panel.canvas.setAttribute('aria-label', 'No grid drawn');
  panel.emptyNote.hidden = false;
  panel.stage.classList.add('empty');
  panel.canvas.removeAttribute('tabindex');
  panel.current = null;
  markTile(panel, null);
  panel.attribution.hidden = true;
  markOverflow(panel);
  panel.headDownload.disabled = true;
  if (panel === panels[0]) ui.download.disabled = true;
}

function showNotes(panel, checkpoint) {
  const notes = [...(checkpoint?.notes ?? [])];
  if (checkpoint?.defaultTensor && checkpoint.defaultReason) {
    notes.unshift(`Drawn by default: ${checkpoint.defaultTensor}, ${checkpoint.defaultReason}.`);
  }
  panel.notes.replaceChildren(...notes.map((text) => Object.assign(document.createElement('li'), { textContent: text })));
  panel.notes.hidden = notes.length === 0;
}

/** Writes each tile's cosine similarity in the band under it, where the cell is wide enough for the text. */
function writeSimilarities(canvas, grid, ratio) {
  const g = cells(grid);
  const context = canvas.getContext('2d');
  context.font = captionFont(ratio);
  context.textAlign = 'center';
  context.textBaseline = 'top';
  context.fillStyle = '#e6e8ec';
  grid.similarity.forEach((value, index) => {
    const text = Number.isNaN(value) ? 'n/a' : value.toFixed(3);
    if (context.measureText(text).width > g.cellW) return;
    const [column, row] = [index % grid.columns, Math.floor(index / grid.columns)];
    context.fillText(text, column * g.pitchX + g.cellW / 2, row * g.pitchY + g.cellH + 2);
  });
}

/** The settings a view does not use are disabled (the position figure sets its own count, columns and gap). */
function enableSettings() {
  const filters = ui.view.value === 'filters';
  const pca = ui.view.value === 'pca';
  ui.controls.classList.toggle('pca', pca);
  ui.controls.classList.toggle('positions', ui.view.value.startsWith('positions'));
  for (const input of [ui.normalize, ui.order, ui.channels, ui.count, ui.columns]) input.disabled = !filters;
  for (const input of [ui.gap, ui.gapColor]) input.disabled = !filters && !pca;
}

/** Marks a stage whose grid is wider than it (an explicit zoom): it scrolls, and says so. */
function markOverflow(panel) {
  const overflowing = panel.canvas.width > 0 && panel.canvas.width / (panel.shown?.ratio ?? 1) > stageWidth();
  panel.stage.classList.toggle('overflowing', overflowing);
  panel.overflowNote.hidden = !overflowing;
  panel.overflowNote.textContent = panel.settings?.fit
    ? 'The grid is wider than this box even at zoom 1: scroll to see all of it.'
    : 'The grid is wider than this box: scroll sideways, or tick “Fit width”.';
  // A box that scrolls must be reachable from the keyboard, so its arrow keys can scroll it.
  if (overflowing) {
    panel.stage.tabIndex = 0;
    panel.stage.setAttribute('aria-label', 'Grid, wider than this box: scroll with the arrow keys');
  } else {
    panel.stage.removeAttribute('tabindex');
    panel.stage.removeAttribute('aria-label');
  }
}

/** Where a draw's time went, in ms, as JSON for the benchmark (status `data-steps`): on the page before the
 *  request was sent, the request's transit, the worker's open and render (and the render's own steps), the
 *  reply's transit (the pixels are transferred, not copied), the page's work before drawing, and putting the
 *  pixels on the canvas. */
function stepTimes(reply, started, putMs, drawStarted) {
  const { clock: c, timings: t } = reply;
  if (!c) return undefined;
  const page = c.sent - (performance.timeOrigin + started);
  const beforeDraw = performance.timeOrigin + drawStarted - c.arrived;
  const round = (x) => (x === undefined ? undefined : Math.round(x * 10) / 10);
  return JSON.stringify(Object.fromEntries(Object.entries({
    page, message: c.received - c.sent, open: t.openMs, openRead: t.openReadMs, render: t.renderMs, ...(t.steps ?? {}),
    worker: c.replied - c.received, reply: c.arrived - c.replied, beforeDraw, put: putMs,
  }).map(([k, v]) => [k, round(v)])));
}

function draw(panel, reply, started) {
  const drawStarted = performance.now();
  const { grid, checkpoint } = reply;
  const putStarted = performance.now();
  const { pixels, ratio } = putPixels(panel, grid, reply.rgba);
  const putMs = performance.now() - putStarted;
  if (grid.view === 'difference') writeSimilarities(panel.canvas, grid, ratio);
  const ms = Math.round(performance.now() - started);
  // For benches/fresh.mjs: when a first visit's sample reached the canvas, by the page's own clock.
  if (panel.isSample && performance.getEntriesByName('patchlens-sample-drawn').length === 0) {
    performance.mark('patchlens-sample-drawn');
  }

  panel.shown = { checkpoint, grid, pixels, ratio };
  panel.opened = true;
  panel.section.classList.remove('failed', 'undrawn', 'refused');
  panel.title.textContent = checkpoint.name;
  fillTensorList(panel);
  showNotes(panel, checkpoint);
  panel.emptyNote.hidden = true;
  panel.stage.classList.remove('empty');
  panel.canvas.tabIndex = 0; // arrow keys walk the tiles, Enter opens one
  if (panel.current !== null && panel.current >= grid.filtersShown) panel.current = null;
  markTile(panel, panel.mark.hidden ? null : panel.current);
  panel.attribution.hidden = !panel.isSample;
  markOverflow(panel);
  panel.headDownload.disabled = false;
  if (panel === panels[0]) ui.download.disabled = false;
  panel.canvas.setAttribute('aria-label',
    `Grid of ${grid.filtersShown} filters from ${grid.tensor}, ${grid.columns} columns by ${grid.rows} rows; `
    + 'arrow keys name each filter, Enter opens it');
  const files = checkpoint.files?.length > 1 ? ` (${checkpoint.files.length} files)` : '';
  const positions = grid.view === 'positions';
  panel.section.classList.toggle('positions', positions); // the tensor picker is the filters'
  showColorbar(panel, positions ? grid.colorbar : null);
  if (positions) {
    panel.canvas.setAttribute('aria-label', `Position ${grid.mode === 'dot' ? 'Gram matrix' : 'cosine similarity'} of ${grid.tensor}: ${grid.tokensReason}`);
    panel.notes.replaceChildren(Object.assign(document.createElement('li'), { textContent: `Drawn: ${grid.tensor}, ${grid.reason}.` }));
    panel.notes.hidden = false;
  }
  const pca = grid.view === 'pca';
  showScree(panel, pca ? grid : null);
  const difference = grid.view === 'difference';
  panel.section.classList.toggle('difference', difference);
  const explained = pca ? grid.explainedVarianceRatio.reduce((sum, r) => sum + r, 0) : 0;
  const what = pca
    ? `${grid.filtersShown} of ${grid.components} principal components of ${grid.shape.join('×')}, ${(100 * explained).toFixed(1)} % of the variance`
    : difference
    ? `A − B, ${grid.filtersShown} of ${grid.filtersTotal} filters, least similar first, symmetric (0 = grey)`
    : positions
    ? `position ${grid.mode === 'dot' ? 'Gram matrix P·Pᵀ' : 'cosine similarity'} (${grid.tokensReason})`
    : `${grid.filtersShown} of ${grid.filtersTotal} filters${VIEW_WORDS[grid.normalize]}${grid.order === 'norm' ? ', largest norm first' : ''}${grid.channels ? ', R G B apart' : ''}`;
  const text = [
    `${checkpoint.name}${files}`, checkpoint.format, grid.tensor, grid.dtype, dims(grid.shape), what,
    `zoom ${grid.zoom}${panel.settings?.fit ? ' (fit)' : ''}`,
    readText(reply, checkpoint), `${ms} ms`,
  ].join(' · ');
  const data = {
    file: checkpoint.name, format: checkpoint.format, tensor: grid.tensor, dtype: grid.dtype,
    shape: grid.shape.join(','), layout: grid.layout, filtersShown: grid.filtersShown, filtersTotal: grid.filtersTotal,
    view: grid.view ?? 'filters', mode: grid.mode, zoom: grid.zoom, normalize: grid.normalize, order: grid.order, channels: grid.channels, bytesRead: reply.bytesRead, reads: reply.reads,
    requests: reply.requests, networkBytes: reply.networkBytes, fileSize: checkpoint.fileSize, ms,
    openMs: reply.timings.openMs?.toFixed(1), renderMs: reply.timings.renderMs.toFixed(1), wasmMemory: reply.wasmMemory,
    steps: stepTimes(reply, started, putMs, drawStarted),
  };
  setStatus(panel, 'ready', text, data);
  panel.shownStatus = { text, data };
}

/** What the status line says was read: of a file, the bytes; over the network, the requests and bytes too. */
function readText(reply, checkpoint) {
  if (reply.requests === undefined) return `read ${humanBytes(reply.bytesRead)} of ${humanBytes(checkpoint.fileSize)}`;
  if (checkpoint.wholeDownload) return `downloaded whole, ${humanBytes(reply.networkBytes)} (the server does not send parts of files)`;
  const requests = `${reply.requests} ${reply.requests === 1 ? 'request' : 'requests'}`;
  return `${requests}, ${humanBytes(reply.networkBytes)} of ${humanBytes(checkpoint.fileSize)} transferred`;
}

/** Shows a panel whose checkpoint could not be opened or drawn. */
function showFailure(panel, reply) {
  // Among several panels, one that could not even list its tensors is just its error.
  panel.section.classList.toggle('failed', panels.length > 1 && !reply.tensors);
  panel.section.classList.toggle('undrawn', Boolean(reply.tensors));
  panel.opened = Boolean(reply.tensors); // opened, listed, not drawn: another view or tensor may draw
  panel.tensorList = reply.tensors ?? [];
  panel.unreadRequests = reply.unreadRequests ?? 0;
  panel.title.textContent = reply.label ?? '';
  fillTensorList(panel);
  showNotes(panel, reply.checkpoint);
  const count = reply.tensors?.length;
  const listed = reply.tensors ? ` (${count} ${count === 1 ? 'tensor' : 'tensors'} listed, none drawn)` : '';
  const view = panel.settings?.view ?? 'filters';
  if (reply.tensors && view !== 'filters') {
    // Opened under another view: that view could not be drawn; the filters' default is beside the point.
    showNotes(panel, null);
    setStatus(panel, 'error', `Could not draw ${VIEW_NAMES[view] ?? 'this view'} of ${reply.label}.`, { file: reply.label });
  } else {
    setStatus(panel, 'error', `Could not draw ${reply.label}${listed}.`, { file: reply.label });
  }
  showAlert(panel, reply.message);
  panel.retry.hidden = reply.errorName !== 'NetworkError';
}

// ---- opening and rendering ----------------------------------------------------------------------

/** Opens files (a drop, the picker, the sample) into panels. */
function openFiles(files, started, { seq = ++openSeq, sample = false } = {}) {
  return openSources({ names: files.map((f) => f.name).join(', '), send: (options) => bridge.open(files, options, { sample }) },
    started, { seq, sample, urls: null });
}

/** The last URLs opened, so a network failure can be retried. */
let lastOpen = null;

/** Opens URLs (the field, `?url=` in the address, a retry) into panels, one each. */
function openUrls(urls, started, { seq = ++openSeq } = {}) {
  return openSources({ names: urls.map(urlName).join(', '), send: (options) => bridge.openUrls(urls, HUB, options) },
    started, { seq, urls });
}

/** Where model ids are looked up: Hugging Face, or a mirror given as `?hub=` in the page address. */
const HUB = new URLSearchParams(location.search).get('hub');


function retryOpen() {
  if (lastOpen) openUrls(lastOpen, performance.now());
}

/** Keeps the URLs shown in the page address (`?url=…`), so the link opens them again; files clear it. Only URLs
 *  that opened are kept: a link that failed must not come back on a reload. */
function showUrlsInAddress(urls) {
  const params = new URLSearchParams(location.search);
  params.delete('url');
  for (const url of urls) params.append('url', url);
  const search = params.toString();
  const address = `${location.pathname}${search ? `?${search}` : ''}${location.hash}`;
  // replaceState costs milliseconds even when nothing changes, and this runs on every open.
  if (address !== `${location.pathname}${location.search}${location.hash}`) history.replaceState(null, '', address);
}

/** Shows a whole-file download's progress (a server that does not send parts of files), or hides it. */
function showDownload(progress) {
  ui.fetchProgress.hidden = !progress;
  if (!progress) return;
  const name = urlName(progress.url);
  const of = progress.total ? ` of ${humanBytes(progress.total)}` : '';
  ui.fetchProgressText.textContent = `Downloading all of ${name}: ${humanBytes(progress.received)}${of}. `
    + 'Its server does not send parts of files, so the whole file comes first.';
  if (progress.total) ui.fetchProgressBar.value = progress.received / progress.total;
  else ui.fetchProgressBar.removeAttribute('value'); // an indeterminate bar
}

/** Opens what `send` asks the worker for into panels. If none of it opens while something is on screen, that
 *  stays, dimmed, with the error above it until the error is closed (the address then keeps naming it). Resolves
 *  to { opened, names, message, retryable }, or undefined when a later open took over. */
async function openSources({ names, send }, started, { seq, sample = false, urls }) {
  const first = panels[0];
  const generation = bridge.generation;
  // A value corrected for the last file's kernel is not a choice: the next file gets what was asked for.
  for (const { input, option } of NUMBER_FIELDS) {
    if (input.dataset.requested === undefined) continue;
    input.value = input.dataset.requested;
    delete input.dataset.requested;
    $(`${option}-note`).textContent = '';
  }
  // The options first: they measure the stage, which is free before the status below changes the layout.
  const options = renderOptions(null);
  clearAlert(first);
  setStatus(first, 'busy', `Opening ${names}…`);
  const reply = await send(options);
  showDownload(null);
  if (reply.superseded || seq !== openSeq) return;
  const failed = !reply.ok || !reply.replaced;
  const message = !reply.ok ? reply.message
    : reply.panels.map((p) => (reply.panels.length > 1 ? `${p.label}: ${p.message}` : p.message)).join(' ');
  // The worker keeps what it had open unless it was restarted meanwhile; only then is the old grid gone too.
  const retryable = reply.ok && reply.panels.some((p) => p.errorName === 'NetworkError');
  const outcome = { opened: !failed, names, message, retryable };
  if (failed && first.shown && reply.ok && bridge.generation === generation) {
    if (urls) lastOpen = urls; // for "Try again"; the address keeps naming what is on screen
    keepPrevious(names, message, retryable);
    // A listing this open overtook was answered as stale: the panels kept on screen are listed again.
    panels.forEach((panel, i) => { if (panel.opened && !panel.tensorList) listTensors(panel, i, openSeq); });
    return outcome;
  }
  // What is on screen now is what the address names: the URLs that opened (a URL's own failure, among others
  // that opened, is left out), or nothing.
  const failedUrl = (url) => reply.ok && reply.panels.some((p) => !p.ok && !p.checkpoint && p.files?.length === 1 && p.files[0] === url);
  const kept = failed || !urls ? [] : urls.filter((url) => !failedUrl(url));
  showUrlsInAddress(kept);
  lastOpen = failed ? urls : kept.length > 0 ? kept : null; // a network failure can be tried again
  closeOpenError();
  setPanelCount(failed ? 1 : reply.panels.length);
  const settings = readControls(); // what the open was drawn with
  for (const panel of panels) {
    panel.settings = settings;
    clearGrid(panel);
    panel.opened = false;
    panel.section.classList.remove('undrawn', 'refused');
    clearAlert(panel);
    panel.tensorList = null;
    panel.unreadRequests = 0;
    panel.layout.value = '';
    panel.showAll.checked = false;
    panel.filter.value = '';
    panel.isSample = sample;
    fillTensorList(panel); // no list: no reasons either
    showNotes(panel, null);
  }
  if (failed) {
    first.title.textContent = '';
    setStatus(first, 'error', `Could not open ${names}.`);
    showAlert(first, message);
    first.retry.hidden = !retryable;
    return outcome;
  }
  reply.panels.forEach((panelReply, i) => {
    const panel = panels[i];
    if (panelReply.ok) {
      draw(panel, { ...panelReply, clock: reply.clock }, started);
      listTensors(panel, i, seq); // after the pixels: listing a big npz reads every entry's header
    } else {
      showFailure(panel, panelReply);
    }
  });
  showPanelControls(); // the panels' names, now known
  const drawn = reply.panels.filter((p, i) => p.ok && governed().includes(panels[i])).map((p) => p.grid);
  if (drawn.length > 0) showAdjustments(drawn);
  if (differencePanel) {
    clearGrid(differencePanel);
    rerender(); // A − B of the new first two
  }
  return outcome;
}

/** A failed open while a grid is shown: the grid and its status stay, dimmed, beside the error. */
function keepPrevious(names, message, retryable) {
  ui.openErrorText.textContent = `Could not open ${names}: ${pageWords(message)}`;
  ui.openError.hidden = false;
  ui.openErrorRetry.hidden = !retryable;
  ui.panels.classList.add('stale');
  for (const panel of panels) {
    if (panel.shownStatus) setStatus(panel, 'error', panel.shownStatus.text, panel.shownStatus.data);
  }
  ui.openErrorClose.focus();
}

function closeOpenError() {
  const wasOpen = !ui.openError.hidden;
  ui.openError.hidden = true;
  ui.openErrorText.textContent = '';
  ui.panels.classList.remove('stale');
  for (const panel of panels) {
    if (panel.shownStatus && panel.status.dataset.state === 'error') {
      setStatus(panel, 'ready', panel.shownStatus.text, panel.shownStatus.data);
    }
  }
  if (wasOpen && document.activeElement === document.body) ui.pickButton.focus();
}

/** Lists a panel's tensors: in full, or for an `.npz` from a server that answers one range per request, by names
 *  and sizes (`unreadRequests` more requests would read every shape) unless `everyShape`. */
async function listTensors(panel, index, seq, { everyShape = false } = {}) {
  const reply = await bridge.list(index, { everyShape });
  if (reply.superseded || seq !== openSeq) return;
  if (!reply.ok) {
    showAlert(panel, reply.message);
    return;
  }
  panel.tensorList = reply.tensors;
  panel.unreadRequests = reply.unreadRequests;
  fillTensorList(panel);
  panel.status.dataset.listMs = reply.timings.listMs.toFixed(1);
}

/** A panel listed by names only that just drew (or was refused) a tensor listed without its shape: listed again
 *  (no request), so that row shows what drawing it read. `asked` is the tensor the request named: by the reply
 *  the picker may have been refilled ("show all", the filter box) and hold the drawn tensor again. */
const relistIfNamesOnly = (panel, index, asked) => {
  const touched = new Set([asked, panel.shown?.grid.tensor].filter(Boolean));
  if (panel.tensorList?.some((t) => t.unreadBytes !== undefined && touched.has(t.name))) listTensors(panel, index, openSeq);
};

/** Redraws every panel with its settings (all of them, since the bridge keeps only the newest request; an
 *  unchanged panel costs little: its tensor and components are kept by its checkpoint). */
async function rerender() {
  const live = panels.map((panel, i) => ({ panel, i })).filter(({ panel }) => panel.opened);
  if (live.length === 0 || !controlsComplete()) return;
  const started = performance.now();
  const seq = openSeq;
  for (const { panel } of live) panel.status.dataset.state = 'busy';
  // Slow views (principal components of a big kernel) say they are working after 200 ms.
  const slow = setTimeout(() => {
    for (const { panel } of live) {
      panel.progress.textContent = panel.settings?.view === 'pca' ? 'Computing the principal components…' : 'Drawing…';
      panel.progress.hidden = false;
    }
  }, 200);
  const requests = live.map(({ panel, i }) => ({ panel: i, options: renderOptions(panel) }));
  if (differencePanel) {
    differencePanel.settings = panels[0].settings;
    requests.push({ panel: 'difference', options: { ...renderOptions(panels[0]), caption: Math.round(CAPTION_BAND * pixelRatio()) } });
  }
  const reply = await bridge.render(requests);
  clearTimeout(slow);
  for (const { panel } of live) panel.progress.hidden = true;
  if (reply.superseded || seq !== openSeq) return;
  if (!reply.ok) {
    for (const { panel } of live) {
      clearGrid(panel);
      panel.opened = false;
      panel.tensorList = null;
      fillTensorList(panel);
      setStatus(panel, 'error', 'No checkpoint open: the reader stopped. Open the file again.');
    }
    showAlert(panels[0], reply.message);
    return;
  }
  const stale = !ui.openError.hidden;
  const drawn = [];
  const adjustable = [...governed(), ...(governed().includes(panels[0]) ? [differencePanel] : [])];
  for (const panelReply of reply.panels) {
    const panel = panelReply.panel === 'difference' ? differencePanel : panels[panelReply.panel];
    if (!panel) continue;
    if (panel === differencePanel && !panelReply.ok) {
      clearGrid(panel);
      panel.title.textContent = panelReply.label;
      setStatus(panel, 'error', `Could not draw ${panelReply.label}.`);
      showAlert(panel, panelReply.message);
      continue;
    }
    if (panelReply.ok) {
      clearAlert(panel);
      draw(panel, { ...panelReply, clock: reply.clock }, started);
      if (adjustable.includes(panel)) drawn.push(panelReply.grid); // the fields say what the controls' panels used
      if (stale) panel.status.dataset.state = 'error';
    } else {
      showRefusal(panel, panelReply, stale);
    }
  }
  if (drawn.length > 0) showAdjustments(drawn);
  for (const { panel, i } of live) relistIfNamesOnly(panel, i, requests.find((r) => r.panel === i)?.options.tensor);
}

/** What the status line calls each view, by the View picker's values. */
const VIEW_NAMES = { filters: 'the filters', pca: 'the principal components', 'positions-cosine': 'the position cosine similarity',
  'positions-dot': 'the position Gram matrix P·Pᵀ' };

/** The View picker's value for what a grid shows. */
const viewOf = (grid) => (grid.view === 'positions' ? `positions-${grid.mode}` : grid.view ?? 'filters');

/** A redraw that failed. A setting refused within the view shown leaves that grid, dimmed, and its status; another
 *  view that cannot be drawn empties the panel (no grid, scree line or colour bar of the last view stays under
 *  the alert) and says so; the checkpoint stays open, so the next change draws again. */
function showRefusal(panel, reply, stale) {
  const wanted = panel.settings?.view ?? 'filters';
  if (panel.shown && viewOf(panel.shown.grid) === wanted) {
    panel.section.classList.add('refused');
    panel.status.dataset.state = 'error';
    showAlert(panel, reply.message);
    return;
  }
  const name = panel.shown?.checkpoint.name ?? panel.title.textContent ?? reply.label;
  clearGrid(panel);
  panel.section.classList.add('undrawn');
  panel.section.classList.remove('positions', 'difference', 'refused');
  showNotes(panel, null);
  setStatus(panel, 'error', `Could not draw ${VIEW_NAMES[wanted] ?? 'this view'} of ${name}.`, { file: name });
  showAlert(panel, reply.message);
}

async function openSample(started) {
  const seq = ++openSeq;
  const name = SAMPLE_URL.split('/').pop();
  const first = panels[0];
  clearAlert(first);
  setStatus(first, 'busy', `Fetching the sample ${name}…`);
  let file;
  try {
    const response = await (sampleFetch ?? fetch(SAMPLE_URL)); // the page's first fetch, once; then afresh
    sampleFetch = null;
    if (!response.ok) throw new Error(`the server answered ${response.status} ${response.statusText}`.trim());
    file = new File([await response.blob()], name, { type: 'application/octet-stream' });
  } catch (error) {
    if (seq !== openSeq) return;
    clearGrid(first);
    setStatus(first, 'error', 'No checkpoint open.');
    showAlert(first, `The sample could not be loaded: ${error.message}.`);
    return;
  }
  return seq === openSeq ? openFiles([file], started, { seq, sample: true }) : undefined;
}

/** Pixels between the position grid and its colour bar in a PNG, the bar's height and the tick labels' band. */
const PNG_BAR = { margin: 6, height: 12, labels: 16, minWidth: 160 };

/** What a panel's PNG holds: exactly its canvas, and for the position view the colour bar and its ticks under
 *  it (the colours mean nothing without their scale). */
function exportCanvas(panel) {
  const grid = panel.shown.grid;
  if (grid.view !== 'positions') return panel.canvas;
  const bar = grid.colorbar;
  const width = Math.max(grid.width, PNG_BAR.minWidth);
  const top = grid.height + PNG_BAR.margin;
  const out = Object.assign(document.createElement('canvas'),
    { width, height: top + PNG_BAR.height + PNG_BAR.labels });
  const context = out.getContext('2d');
  context.fillStyle = '#000';
  context.fillRect(0, 0, out.width, out.height);
  context.drawImage(panel.canvas, 0, 0);
  context.imageSmoothingEnabled = false;
  // The bar under the grid on the page already holds the colour map's 256 entries.
  context.drawImage(panel.colorbar.querySelector('canvas'), 0, top, width, PNG_BAR.height);
  context.font = CAPTION_FONT;
  context.fillStyle = '#e6e8ec';
  context.textBaseline = 'top';
  // The same labels as on the page: none touching another.
  for (const label of placeTicks(bar, width, (text) => context.measureText(text).width)) {
    context.fillRect(Math.min(Math.round(label.x), width - 1), top + PNG_BAR.height, 1, 3);
    if (label.shown) context.fillText(label.text, label.left, top + PNG_BAR.height + 4);
  }
  return out;
}

/** A PNG's file name: the checkpoint, the tensor and, beyond filters, the view. */
function pngName(panel) {
  const { checkpoint, grid } = panel.shown;
  const stem = checkpoint.name.replace(/\.[^.]+$/, '') || 'checkpoint';
  const view = { pca: '-pca', positions: `-positions-${grid.mode}`, difference: '-difference' }[grid.view] ?? '';
  return `${stem}-${grid.tensor}${view}.png`.replace(/[^\w.-]+/g, '_');
}

function download(panel) {
  if (!panel.shown) return;
  const name = pngName(panel);
  exportCanvas(panel).toBlob((blob) => {
    if (!blob) { showAlert(panel, 'The PNG could not be made from this canvas.'); return; }
    const link = document.createElement('a');
    link.href = URL.createObjectURL(blob);
    link.download = name;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  }, 'image/png');
}

// ---- events -------------------------------------------------------------------------------------

ui.pickButton.addEventListener('click', () => ui.fileInput.click());
ui.fileInput.addEventListener('change', (event) => {
  const files = [...ui.fileInput.files];
  if (files.length > 0) openFiles(files, event.timeStamp);
  ui.fileInput.value = ''; // so picking the same file again still fires change
});
ui.sampleButton.addEventListener('click', (event) => openSample(event.timeStamp));

ui.controls.addEventListener('submit', (event) => event.preventDefault());
/** The controls changed: the panels they set take them, and everything is redrawn. */
function applyControls() {
  const settings = readControls();
  for (const panel of governed()) panel.settings = settings;
  saveSettings();
  rerender();
}

ui.controls.addEventListener('input', (event) => {
  if (event.target === ui.link || event.target === ui.editing) return; // these choose panels, below
  delete event.target.dataset.requested; // typed over: the new value is the request
  if (event.target === ui.view) enableSettings();
  if (event.target === ui.zoom) ui.fit.checked = false; // a zoom typed in wins over fitting
  applyControls();
});
// Linking again gives every panel the settings shown; unlinking keeps each panel's and shows the first's.
ui.link.addEventListener('change', () => {
  if (!ui.link.checked) ui.editing.value = '0';
  showPanelControls();
  if (ui.link.checked) applyControls();
  else chooseEditedPanel();
});
ui.editing.addEventListener('change', () => chooseEditedPanel());

/** Unlinked: shows the settings of the panel chosen under "Settings of", to be changed for it alone. */
function chooseEditedPanel() {
  const panel = governed()[0];
  if (panel?.settings) writeControls(panel.settings);
  enableSettings();
  showPanelControls();
  saveSettings();
}
ui.openErrorClose.addEventListener('click', () => closeOpenError());
ui.openErrorRetry.addEventListener('click', () => { closeOpenError(); retryOpen(); });
ui.fetchCancel.addEventListener('click', () => bridge.cancelDownload());
bridge.onProgress = (progress) => showDownload(progress);

/** The URLs typed or pasted into the field, one per line. */
const typedUrls = () => ui.urlInput.value.split('\n').map((line) => line.trim()).filter(Boolean);
ui.urlForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const urls = typedUrls();
  if (urls.length > 0) openUrls(urls, event.timeStamp);
});
// Enter opens; Shift+Enter starts another line. Pasted lines grow the box.
ui.urlInput.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey) {
    event.preventDefault();
    ui.urlForm.requestSubmit();
  }
});
ui.urlInput.addEventListener('input', () => { ui.urlInput.rows = Math.min(Math.max(typedUrls().length, 1), 6); });
ui.difference.addEventListener('change', () => {
  showDifferencePanel(ui.difference.checked);
  rerender();
});
window.addEventListener('hashchange', () => { loadSettings(); enableSettings(); applyControls(); }); // an address edited by hand

// Fitting follows the stage's width: redraw when it changes (window resized, phone turned), once per frame.
let fittedWidth = null;
let resizeFrame = 0;
new ResizeObserver(() => {
  cancelAnimationFrame(resizeFrame);
  resizeFrame = requestAnimationFrame(() => {
    const width = stageWidth();
    if (width === fittedWidth) return;
    fittedWidth = width;
    if (panels.some((panel) => panel.settings?.fit)) rerender();
    else panels.forEach(markOverflow);
  });
}).observe(ui.panels);
ui.download.addEventListener('click', () => download(panels[0]));

/** Folder levels read below a dropped folder: a SavedModel keeps its weights one level down, in variables/. */
const FOLDER_DEPTH = 2;

/** The files inside a dropped folder and its subfolders down to FOLDER_DEPTH, hidden ones left out. */
function folderFiles(entry, depth = 0) {
  return new Promise((resolve) => {
    const reader = entry.createReader();
    const entries = [];
    const more = () => reader.readEntries((batch) => {
      if (batch.length === 0) {
        const visible = entries.filter((e) => !e.name.startsWith('.'));
        const files = visible.filter((e) => e.isFile).map((e) => new Promise((ok) => e.file(ok, () => ok(null))));
        const folders = depth < FOLDER_DEPTH ? visible.filter((e) => e.isDirectory).map((e) => folderFiles(e, depth + 1)) : [];
        Promise.all([...files, ...folders]).then((list) => resolve(list.flat().filter(Boolean)));
        return;
      }
      entries.push(...batch);
      more();
    }, () => resolve([]));
    more();
  });
}

// Drops anywhere on the page. dragenter/dragleave fire for every child, hence the depth count.
let dragDepth = 0;
const dragging = (on) => document.body.classList.toggle('dragging', on);
document.addEventListener('dragenter', (event) => {
  event.preventDefault();
  dragDepth += 1;
  dragging(true);
});
document.addEventListener('dragover', (event) => {
  event.preventDefault();
  if (event.dataTransfer) event.dataTransfer.dropEffect = 'copy';
});
document.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) dragging(false);
});
document.addEventListener('drop', async (event) => {
  event.preventDefault();
  dragDepth = 0;
  dragging(false);
  const started = event.timeStamp;
  // Entries must be taken while the event is being handled; their contents can be read later.
  const items = [...(event.dataTransfer?.items ?? [])].map((item) => item.webkitGetAsEntry?.()).filter(Boolean);
  const files = [...(event.dataTransfer?.files ?? [])];
  const folders = items.filter((entry) => entry.isDirectory);
  const dropped = folders.length > 0
    ? [...files.filter((f) => !folders.some((d) => d.name === f.name)), ...(await Promise.all(folders.map(folderFiles))).flat()]
    : files;
  if (dropped.length === 0) showAlert(panels[0], 'Only files can be opened: drop checkpoint files or a folder from your computer.');
  else openFiles(dropped, started);
});

// The module compiles while the sample downloads. `?sample=none` skips the sample (the benchmark uses it).
bridge.onReady = () => {
  if (!document.documentElement.dataset.module) performance.mark('patchlens-module-ready'); // for benches/fresh.mjs
  document.documentElement.dataset.module = 'ready';
};
loadSettings();
enableSettings();
// `?url=…` (repeatable) opens those instead of the sample: a shared link shows its checkpoints.
const addressUrls = new URLSearchParams(location.search).getAll('url').filter(Boolean);
if (addressUrls.length > 0) {
  ui.urlInput.value = addressUrls.join('\n');
  ui.urlInput.rows = Math.min(addressUrls.length, 6);
  openUrls(addressUrls, performance.now()).then(async (outcome) => {
    // A link whose URLs do not open shows the sample, dimmed under the error, rather than an empty page.
    if (!outcome || outcome.opened || new URLSearchParams(location.search).get('sample') === 'none') return;
    const sample = await openSample(performance.now());
    if (!sample?.opened) return;
    lastOpen = addressUrls; // "Try again" tries the link's URLs
    keepPrevious(outcome.names, outcome.message, outcome.retryable);
  });
} else if (new URLSearchParams(location.search).get('sample') !== 'none') openSample(performance.now());
