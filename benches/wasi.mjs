// Runs a WASI build of an example (e.g. examples/pca_steps.rs) in Node's V8, the engine of the page's worker,
// with the current directory readable:  node benches/wasi.mjs program.wasm [args...]
import { readFileSync } from 'node:fs';
import { WASI } from 'node:wasi';

const [program, ...args] = process.argv.slice(2);
const wasi = new WASI({ version: 'preview1', args: [program, ...args], env: {}, preopens: { '.': '.' } });
const module = await WebAssembly.compile(readFileSync(program));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
wasi.start(instance);
