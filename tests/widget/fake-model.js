// A stand-in for anywidget's model in a plain page: get/set/on/off/send/save_changes and `msg:custom`
// with buffers, as @jupyter-widgets/base delivers them (DataViews). Its "Python side" answers read
// requests as python/patchlens/widget.py does, with bytes fetched from the test's server by range.
export class FakeModel {
  constructor(state, files) {
    this.state = { ...state };
    this.files = files; // [{ path }] in the order of state.files
    this.handlers = new Map();
    this.saves = 0;
    this.reads = []; // every read request the front end sent
    this.failNext = null; // a sentence: the next read is answered with it, as the kernel answers an OSError
  }

  get(key) { return this.state[key]; }

  set(key, value) {
    const before = JSON.stringify(this.state[key]);
    this.state[key] = value;
    if (JSON.stringify(value) !== before) this.trigger(`change:${key}`, value);
  }

  /** What a change made in Python looks like to the front end. */
  fromPython(key, value) { this.set(key, value); }

  save_changes() { this.saves += 1; }

  on(event, handler) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event).add(handler);
  }

  off(event, handler) { this.handlers.get(event)?.delete(handler); }

  trigger(event, ...args) { for (const handler of [...(this.handlers.get(event) ?? [])]) handler(...args); }

  send(content, _callbacks, _buffers) {
    if (content?.type !== 'read') return;
    this.reads.push(content.ranges);
    const reply = async () => {
      if (this.failNext) {
        const message = this.failNext;
        this.failNext = null;
        return [{ type: 'bytes', id: content.id, ok: false, message }, []];
      }
      const buffers = await Promise.all(content.ranges.map(async ([file, offset, length]) => {
        const url = `/bytes?path=${encodeURIComponent(this.files[file].path)}&offset=${offset}&length=${length}`;
        const response = await fetch(url);
        if (!response.ok) throw new Error(await response.text());
        return new DataView(await response.arrayBuffer());
      }));
      return [{ type: 'bytes', id: content.id, ok: true }, buffers];
    };
    // Asynchronous, as a kernel's reply is.
    reply().then(([message, buffers]) => setTimeout(() => this.trigger('msg:custom', message, buffers), 0));
  }
}
