// A complete worker for the patchlens npm package: it receives a File, opens it lazily with openBlob
// (only the byte ranges it needs are read, so a multi-gigabyte checkpoint is fine), renders the grid and
// posts the pixels back, transferred rather than copied. With a bundler, import from 'patchlens' instead.
import { openBlob } from '../js/index.js';

self.onmessage = async ({ data: { file, options } }) => {
  let checkpoint;
  try {
    checkpoint = await openBlob(file);
    const grid = checkpoint.render(options); // options: { tensor, layout, count, columns, zoom, gap, gapColor }
    const { width, height, tensor, dtype, shape, filtersShown, filtersTotal } = grid;
    // The pixels are a copy the module made for us: transfer their buffer (a copy of the view if it is shared).
    const view = grid.rgba;
    const rgba = view.byteOffset === 0 && view.byteLength === view.buffer.byteLength ? view.buffer : view.slice().buffer;
    self.postMessage({
      ok: true, width, height, rgba, tensor, dtype, shape, filtersShown, filtersTotal,
      bytesRead: checkpoint.bytesRead, fileSize: checkpoint.fileSize,
    }, [rgba]);
  } catch (error) {
    self.postMessage({ ok: false, message: error.message }); // one sentence, ready to show
  } finally {
    checkpoint?.free(); // the module's memory for this file
  }
};
