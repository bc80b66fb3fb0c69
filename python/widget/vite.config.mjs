// Bundles the widget's front end (index.js + the wasm-bindgen glue pkg/patchlens.js) into one ES module,
// python/patchlens/_static/widget.js, which anywidget loads as the widget's `_esm`.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  logLevel: 'warn',
  build: {
    outDir: here('../patchlens/_static'),
    emptyOutDir: false, // the .wasm beside it is copied by scripts/build-widget.sh
    minify: false, // small and readable in the browser's debugger
    target: 'es2022',
    lib: { entry: here('index.js'), formats: ['es'], fileName: () => 'widget.js' },
  },
  plugins: [{
    // The glue's default path to its .wasm (`new URL('patchlens_bg.wasm', import.meta.url)`) is never taken:
    // the widget passes the module's bytes. Without this, the bundler would inline the .wasm as base64.
    name: 'patchlens-no-wasm-url',
    transform(code, id) {
      if (!id.endsWith('pkg/patchlens.js')) return null;
      const url = "new URL('patchlens_bg.wasm', import.meta.url)";
      if (!code.includes(url)) this.error(`${id} no longer has ${url}; update python/widget/vite.config.mjs.`);
      return { code: code.replace(url, 'undefined'), map: null };
    },
  }],
});
