// What one panel shows besides its tiles' meaning: the status line, the alert, the pixels on its canvas (one
// canvas pixel per device pixel), the colour bar and the scree line. app.js decides what to show; this draws it.

/** The status line's `data-*` fields, for tests and the benchmark. */
const STATUS_FIELDS = ['file', 'format', 'tensor', 'dtype', 'shape', 'layout', 'filtersShown', 'filtersTotal', 'zoom',
  'view', 'mode',
  'normalize', 'order', 'channels',
  'bytesRead', 'reads', 'requests', 'networkBytes', 'fileSize', 'ms', 'openMs', 'listMs', 'renderMs', 'wasmMemory', 'steps'];

/** Pixels of space kept between two tick labels of a colour bar. */
const TICK_SPACING = 6;

/** Device pixels per CSS pixel: a fitted grid is sized in device pixels, so a phone's grid fills its box. */
export const pixelRatio = () => window.devicePixelRatio || 1;

export const number = (value) => (Number.isNaN(value) ? 'NaN' : Number(value.toPrecision(4)).toString());

export function setStatus(panel, state, text, data = {}) {
  panel.status.dataset.state = state;
  panel.status.textContent = text;
  for (const key of STATUS_FIELDS) {
    if (data[key] === undefined) delete panel.status.dataset[key];
    else panel.status.dataset[key] = String(data[key]);
  }
}

/** The module speaks to every caller (CLI, API, page); these are its phrases that name the API's options, with
 *  what the page calls the same thing. */
const PAGE_WORDS = [
  [/; name one with the tensor option\.$/,
    '. Choose View “filters” to see this checkpoint’s filters (the Tensor picker lists its kernels), or open a checkpoint that has one: the sample does.'],
  [/; give the extra tokens and the rows × columns\.$/, '; type them under “Extra tokens” and “Grid”.'],
];

export const pageWords = (message) => PAGE_WORDS.reduce((text, [api, page]) => text.replace(api, page), message);

export function showAlert(panel, message) {
  panel.alert.textContent = pageWords(message);
  panel.alert.hidden = false;
}

export function clearAlert(panel) {
  panel.alert.textContent = '';
  panel.alert.hidden = true;
  panel.retry.hidden = true;
}

/** Puts a grid's RGBA on the panel's canvas, one canvas pixel per device pixel (its CSS size is divided by the
 *  device pixel ratio), and keeps the pixels for the inspector, which so never reads the canvas back. */
export function putPixels(panel, grid, rgba) {
  const ratio = pixelRatio();
  const canvas = panel.canvas;
  canvas.width = grid.width;
  canvas.height = grid.height;
  canvas.style.width = `${grid.width / ratio}px`;
  canvas.style.height = `${grid.height / ratio}px`;
  const pixels = new Uint8ClampedArray(rgba);
  canvas.getContext('2d').putImageData(new ImageData(pixels, grid.width, grid.height), 0, 0);
  return { pixels, ratio };
}

/** Empties a panel's canvas and what stands under it for the grid (colour bar, scree line). */
export function emptyCanvas(panel) {
  panel.canvas.width = 0;
  panel.canvas.height = 0;
  panel.canvas.style.width = '';
  panel.canvas.style.height = '';
  showColorbar(panel, null);
  showScree(panel, null);
  panel.progress.hidden = true;
}

/** The share of the variance each drawn component explains, as bars under the grid (a scree line), or hides it. */
export function showScree(panel, grid) {
  panel.scree.hidden = !grid;
  if (!grid) return;
  const ratios = grid.explainedVarianceRatio;
  const canvas = panel.scree.querySelector('canvas');
  const bar = 6;
  canvas.width = ratios.length * (bar + 2);
  const context = canvas.getContext('2d');
  context.clearRect(0, 0, canvas.width, canvas.height);
  context.fillStyle = '#7cc4ff';
  const top = Math.max(...ratios, 1e-12);
  ratios.forEach((r, k) => {
    const h = Math.max(1, Math.round((r / top) * (canvas.height - 2)));
    context.fillRect(k * (bar + 2) + 1, canvas.height - 1 - h, bar, h);
  });
  const percent = (r) => `${(100 * r).toFixed(2)} %`;
  panel.scree.querySelector('.scree-note').textContent =
    `Explained variance: component 1 ${percent(ratios[0])}, component ${ratios.length} ${percent(ratios[ratios.length - 1])}.`;
}

/**
 * Where a colour bar's tick labels go along a bar `width` px wide: each label's left edge, or null for one
 * left out because it would touch a label already placed. The end labels are placed first and sit inside the bar
 * (the first starts at 0, the last ends at `width`); the others are centred on their tick.
 */
export function placeTicks(bar, width, textWidth) {
  const span = bar.max - bar.min || 1;
  const labels = bar.ticks.map((tick, i) => {
    const w = textWidth(number(tick));
    const x = ((tick - bar.min) / span) * width;
    const left = i === 0 ? 0 : i === bar.ticks.length - 1 ? width - w : x - w / 2;
    return { left: Math.min(Math.max(left, 0), Math.max(width - w, 0)), w, x };
  });
  const order = [0, labels.length - 1, ...labels.keys()].filter((i, k, all) => i >= 0 && all.indexOf(i) === k);
  const placed = [];
  for (const i of order) {
    const { left, w } = labels[i];
    const clear = placed.every((j) => left + w + TICK_SPACING <= labels[j].left || labels[j].left + labels[j].w + TICK_SPACING <= left);
    if (clear) placed.push(i);
  }
  return labels.map((label, i) => ({ ...label, text: number(bar.ticks[i]), shown: placed.includes(i) }));
}

/** Draws a colour map's 256 entries as a bar with its ticks (the position view), or hides it. */
export function showColorbar(panel, bar) {
  panel.colorbar.hidden = !bar;
  if (!bar) return;
  const canvas = panel.colorbar.querySelector('canvas');
  const image = new ImageData(256, 1);
  for (let i = 0; i < 256; i += 1) image.data.set([bar.lut[3 * i], bar.lut[3 * i + 1], bar.lut[3 * i + 2], 255], 4 * i);
  canvas.getContext('2d').putImageData(image, 0, 0);
  canvas.setAttribute('aria-label', `Colour bar: ${bar.colormap} from ${number(bar.min)} to ${number(bar.max)}`);
  const ticks = panel.colorbar.querySelector('.colorbar-ticks');
  const spans = bar.ticks.map((tick) => Object.assign(document.createElement('span'), { textContent: number(tick) }));
  ticks.replaceChildren(...spans);
  // Measured as laid out: the labels' font is the page's.
  const width = ticks.clientWidth;
  const widths = new Map(spans.map((span) => [span.textContent, span.getBoundingClientRect().width]));
  placeTicks(bar, width, (text) => widths.get(text) ?? 0).forEach((label, i) => {
    spans[i].style.left = `${label.left}px`;
    spans[i].hidden = !label.shown;
  });
}
