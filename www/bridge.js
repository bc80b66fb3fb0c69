// The page's one way to talk to worker.js. Opening a file cancels an open or render in flight (by restarting
// the worker; a tensor listing, quick, is left to finish, so the checkpoints on screen stay open); re-renders
// queue behind the current request and coalesce, so only the latest one runs.
//
// Protocol (structured-clone messages, one reply per request, matched by id):
//   page → worker  { id, type: 'open', files: File[], options: RenderOptions, sample }   open (one panel per
//                                                   checkpoint among the files), then draw each; sample: the
//                                                   page's sample (the small first module may draw it)
//                  { id, type: 'openUrls', urls: string[], hub, options }       open each URL or hub model id
//                                                   (ranges; ids through the hub at `hub`, null: huggingface.co), draw
//                  { type: 'cancel' }                               stop a whole-file download (no reply of its own)
//                  { id, type: 'render', requests: [{ panel, options }] }      redraw panels
//                  { id, type: 'list', panel }                                  list a panel's tensors
//   worker → page  open:        { id, ok: true, replaced, panels: Panel[] }  replaced: false when none of the
//                                files opened; the worker then still holds the checkpoints it had
//                  render:      { id, ok: true, panels: Panel[] }
//                  list:        { id, ok: true, panel, tensors: TensorInfo[], bytesRead, reads, timings: { listMs } }
//                  failure:     { id, ok: false, message, fatal }   (the request as a whole)
//                  { type: 'ready', wasmMemory }   once, when the module has loaded (no id)
//                  { type: 'progress', id, url, received, total }   while a server's whole file downloads
//   Panel = { panel, label, files, ok: true, checkpoint: Summary, grid: GridInfo, rgba: ArrayBuffer,
//             bytesRead, reads, requests?, networkBytes?, timings: { openMs?, openReadMs?, renderMs }, wasmMemory }
//         | { panel, label, files, ok: false, message, errorName?, checkpoint: Summary | null,
//             tensors?: TensorInfo[] (when it opened and listed but could not draw) }
//   Summary = { name, files, format, fileSize, defaultTensor, defaultReason, notes, url?, wholeDownload };
//   bytesRead: distinct bytes of the panel's file(s) read since opening; reads: how many reads that took;
//   for a URL, requests and networkBytes: what crossed the network. errorName 'NetworkError': worth retrying.
// Every request carries `sentAt` and every reply `clock: { sent, received, replied, arrived }` (`clock()`
// milliseconds), so the page can tell the message's transit from the worker's work.
// The bridge answers { ok: false, superseded: true } for requests it dropped and { ok: false, fatal: true }
// when the worker died; after a fatal reply the next request runs in a fresh worker.

/** Milliseconds on a clock page and worker share (each has its own `performance.now` origin). */
export const clock = () => performance.timeOrigin + performance.now();

export class CheckpointBridge {
  #url;
  #worker = null;
  #nextId = 1;
  #pending = new Map(); // id → { resolve, type }
  #queued = null; // { requests, resolve }: the latest render waiting for the worker

  /** Called with the worker's 'ready' message each time a (re)started worker has loaded the module. */
  onReady = null;

  /** Called with each 'progress' message while a server's whole file downloads. */
  onProgress = null;

  /** Counts the workers started: a new one holds no checkpoints, whatever the page still shows. */
  generation = 0;

  constructor(url) {
    this.#url = url;
  }

  /** Starts the worker now, so the module compiles before the first file arrives. */
  warm() {
    this.#ensureWorker();
  }

  /** Opens `files` (one panel per checkpoint among them) and renders each; cancels anything running. `sample`:
   *  the page's own sample, which the worker may draw with its small first module before the full one is in. */
  open(files, options, { sample = false } = {}) {
    this.#cancelWork();
    return this.#post({ type: 'open', files, options, sample });
  }

  /** Opens URLs and hub model ids (a panel each), reading only the ranges needed, the ids through the hub at
   *  `hub` (null: huggingface.co); cancels anything running. */
  openUrls(urls, hub, options) {
    this.#cancelWork();
    return this.#post({ type: 'openUrls', urls, hub, options });
  }

  /** Stops a whole-file download; its open then answers with the cancellation. */
  cancelDownload() {
    this.#worker?.postMessage({ type: 'cancel' });
  }

  /** Re-renders panels ([{ panel, options }]); while the worker is busy only the newest call waits. */
  render(requests) {
    if (this.#pending.size === 0) return this.#post({ type: 'render', requests });
    this.#queued?.resolve({ ok: false, superseded: true });
    return new Promise((resolve) => { this.#queued = { requests, resolve }; });
  }

  /** Lists a panel's tensors; an `.npz` from S3 or GCS by names and sizes only, unless `everyShape`. */
  list(panel, { everyShape = false } = {}) {
    return this.#post({ type: 'list', panel, everyShape });
  }

  /** Restarts the worker if it is opening or drawing. A listing alone is let finish: restarting for it would
   *  close the checkpoints on screen, which a failed open must leave there (the page answers a stale list by
   *  its open counter). */
  #cancelWork() {
    if ([...this.#pending.values()].some(({ type }) => type !== 'list')) this.#stop({ ok: false, superseded: true });
  }

  #post(message) {
    const worker = this.#ensureWorker();
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#pending.set(id, { resolve, type: message.type });
      worker.postMessage({ id, ...message, sentAt: clock() });
    });
  }

  #ensureWorker() {
    if (this.#worker) return this.#worker;
    const worker = new Worker(this.#url, { type: 'module' });
    this.generation += 1;
    worker.onmessage = ({ data }) => this.#settle(data);
    // Module load failures and uncaught errors: the worker is unusable, start afresh next time.
    worker.onerror = (event) => {
      event.preventDefault();
      const detail = event.message ? ` (${event.message})` : '';
      this.#stop({ ok: false, fatal: true, message: `The checkpoint reader stopped unexpectedly${detail}.` });
    };
    worker.onmessageerror = () => {
      this.#stop({ ok: false, fatal: true, message: 'The checkpoint reader sent a reply the page could not read.' });
    };
    this.#worker = worker;
    return worker;
  }

  #settle(data) {
    if (data.type === 'ready') {
      this.onReady?.(data);
      return;
    }
    if (data.type === 'progress') {
      if (this.#pending.has(data.id)) this.onProgress?.(data);
      return;
    }
    const resolve = this.#pending.get(data.id)?.resolve;
    if (!resolve) return;
    if (data.clock) data.clock.arrived = clock();
    this.#pending.delete(data.id);
    if (data.fatal) this.#stop({ ok: false, superseded: true });
    resolve(data);
    if (this.#pending.size === 0 && this.#queued) {
      const { requests, resolve: resolveQueued } = this.#queued;
      this.#queued = null;
      this.#post({ type: 'render', requests }).then(resolveQueued);
    }
  }

  /** Terminates the worker and answers everything outstanding with `reply`. */
  #stop(reply) {
    this.#worker?.terminate();
    this.#worker = null;
    const waiting = [...this.#pending.values()].map((entry) => entry.resolve);
    if (this.#queued) waiting.push(this.#queued.resolve);
    this.#pending.clear();
    this.#queued = null;
    for (const resolve of waiting) resolve(reply);
  }
}
