// Injected into every document of a tab, frames included, before the page's
// own scripts (Page.addScriptToEvaluateOnNewDocument). It
//  - records what the page makes interactive: event listeners (addEventListener,
//    on* properties), closed shadow roots;
//  - tracks pending work for the settle wait: fetch/XHR until their bodies are
//    read, short timers, DOM mutations, timer- and frame-driven animations;
//  - gives every element the user can act on an id and renders the page, its
//    open and closed shadow roots and its frames as an accessibility-tree-like
//    list. Frames answer their parent over postMessage (with a per-tab token),
//    so cross-origin frames take part too; the top frame maps their ids into
//    its own id space, so ids are unique across frames.
(() => {
  if (window.__egym) return;
  const W = window;
  const TOKEN = '__EGYM_TOKEN__'; // replaced per tab by the Go side
  const KEY = '__egymMsg';
  const oSetTimeout = W.setTimeout.bind(W), oClearTimeout = W.clearTimeout.bind(W);
  const oSetInterval = W.setInterval.bind(W);
  const oRAF = W.requestAnimationFrame ? W.requestAnimationFrame.bind(W) : null;
  const oAdd = EventTarget.prototype.addEventListener;
  const oPost = W.postMessage;
  const oStop = Event.prototype.stopImmediatePropagation; // a page may replace it to read the bridge's token
  const now = () => performance.now();
  let lastMut = now();
  let lastInput = 0; // last input event (real or dispatched by an action)
  let lastAnim = -1e9, animStart = -1e9; // DOM changes made by short intervals / animation frames
  let unloading = false;
  let next = 1;
  const DOC = Math.random().toString(36).slice(2); // this document, for the parent's id map

  // ---- what the page makes interactive
  const ACT_EVENTS = new Set(['click', 'auxclick', 'mousedown', 'mouseup', 'pointerdown', 'pointerup', 'dblclick', 'touchstart', 'touchend', 'contextmenu', 'dragstart', 'dragover', 'drop', 'mouseenter', 'mouseover']);
  const CLICK_EVENTS = new Set(['click', 'auxclick', 'mousedown', 'mouseup', 'pointerdown', 'pointerup']);
  const listened = new WeakSet(), clickListened = new WeakSet();
  // An element listening for many kinds of events is a framework's root
  // (React 17+ listens for every event it supports on the element it
  // renders into), not a container whose listener serves its parts.
  const APP_ROOT_TYPES = 16;
  const typesOn = new WeakMap(); // element -> event types, up to APP_ROOT_TYPES
  EventTarget.prototype.addEventListener = function (type, fn, opts) {
    if (this && this.nodeType === 1) {
      if (ACT_EVENTS.has(type)) {
        listened.add(this);
        if (CLICK_EVENTS.has(type)) clickListened.add(this);
      }
      let ts = typesOn.get(this);
      if (!ts) { ts = new Set(); typesOn.set(this, ts); }
      if (ts.size < APP_ROOT_TYPES) ts.add(String(type));
    }
    return oAdd.call(this, type, fn, opts);
  };
  const appRoot = (el) => { const ts = typesOn.get(el); return !!ts && ts.size >= APP_ROOT_TYPES; };
  const closedRoots = new WeakMap();
  const oAttach = Element.prototype.attachShadow;
  if (oAttach) {
    Element.prototype.attachShadow = function (init) {
      const r = oAttach.call(this, init);
      if (init && init.mode === 'closed') closedRoots.set(this, r);
      if (mo) observeRoot(r); // the page's scripts run after this one: mo is set
      return r;
    };
  }
  const shadowOf = (el) => el.shadowRoot || closedRoots.get(el) || null;

  // ---- settle bookkeeping
  const waiters = new Set();
  // poke re-checks in a task of its own, so the page's handlers of the same
  // event (load handlers, fetch continuations) have run first.
  let poked = false;
  const poke = () => {
    if (poked || !waiters.size) return;
    poked = true;
    oSetTimeout(() => { poked = false; for (const w of Array.from(waiters)) w(); }, 0);
  };
  // Requests and reads are pending until done, for BG_MAX at most (see
  // begin), so that a long poll (a request the server holds until it has
  // news) does not hold every step.
  const track = (p) => {
    if (!p || typeof p.finally !== 'function') return p;
    const k = begin();
    return p.finally(() => end(k));
  };
  // Browser APIs that answer with a promise in a later task, like a fetch
  // body: pending until they settle.
  const trackMethods = (proto, names) => {
    if (!proto) return;
    for (const m of names) {
      const d = Object.getOwnPropertyDescriptor(proto, m);
      if (!d || typeof d.value !== 'function') continue;
      const o = d.value;
      proto[m] = function (...a) { return track(o.apply(this, a)); };
    }
  };
  const ofetch = W.fetch;
  if (ofetch) W.fetch = function (...a) { return track(ofetch.apply(this, a)); };
  // A fetch resolves when the headers arrive; the page then reads the body.
  if (W.Response) {
    for (const m of ['json', 'text', 'arrayBuffer', 'blob', 'formData', 'bytes']) {
      const o = Response.prototype[m];
      if (o) Response.prototype[m] = function (...a) { return track(o.apply(this, a)); };
    }
  }
  const osend = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (...a) {
    const k = begin();
    oAdd.call(this, 'loadend', () => end(k), { once: true });
    return osend.apply(this, a);
  };
  // Short timers count as pending work: a click handler that updates the
  // page after setTimeout(…, 50) is not settled until the timer ran. A
  // timer set from a timer's (or idle callback's) callback continues its
  // chain, and a chain holds the wait for CHAIN_MAX from its first timer
  // at most, so that a polling loop (setTimeout(poll, 100) forever) does
  // not hold every step. chainOrigin is the running callback's chain
  // start (null outside one; -Infinity for a loop's).
  const CHAIN_MAX = 1500; // as ANIM_MAX below
  let chainOrigin = null;
  // A loop that re-arms from a promise callback (poll(): await fetch,
  // then setTimeout(poll, 150)) is no timer chain: it is known by the
  // same callback armed again with no input in between, and then holds
  // nothing until the next input makes it prove itself again.
  const loops = new Map(); // callback source -> {last, n}
  const srcOf = new WeakMap();
  const looping = (fn) => {
    let key = srcOf.get(fn);
    if (key === undefined) { key = String(fn).slice(0, 300); srcOf.set(fn, key); }
    const t = now();
    let r = loops.get(key);
    if (!r) {
      if (loops.size > 1000) loops.clear();
      r = { last: t, n: 0 };
      loops.set(key, r);
    }
    if (lastInput > r.last) r.n = 0;
    r.n++;
    r.last = t;
    return r.n >= 2;
  };
  // originOf is the chain start of a callback armed now.
  const originOf = (fn) => (chainOrigin !== null ? chainOrigin : looping(fn) ? -Infinity : now());
  const timers = new Map(); // id -> its chain's start
  const inChain = (origin, fn) => {
    const prev = chainOrigin;
    chainOrigin = origin;
    try { return fn(); } finally { chainOrigin = prev; }
  };
  W.setTimeout = function (fn, ms, ...a) {
    if (typeof fn !== 'function' || !(ms <= 300)) return oSetTimeout(fn, ms, ...a);
    const origin = originOf(fn);
    const id = oSetTimeout(() => { timers.delete(id); try { inChain(origin, () => fn(...a)); } finally { poke(); } }, ms);
    timers.set(id, origin);
    return id;
  };
  // timerLeft is how long short timers still hold the wait (0: none).
  const timerLeft = (t) => {
    let left = 0;
    for (const origin of timers.values()) left = Math.max(left, CHAIN_MAX - (t - origin));
    return left;
  };
  W.clearTimeout = function (id) { if (timers.delete(id)) poke(); return oClearTimeout(id); };
  // Animations driven by short intervals (jQuery's 13 ms fx timer) or
  // animation frames change the DOM in steps with gaps longer than the quiet
  // period: a step that changed the DOM marks an animation in progress.
  let mo = null;
  const animTick = (iv) => {
    if (!mo) return;
    const recs = mo.takeRecords();
    if (!recs.length) return;
    resourcesIn(recs);
    const t = now();
    if (iv && !animIv.has(iv)) animIv.set(iv, t);
    lastMut = t;
    if (t - lastAnim > ANIM_GAP) animStart = t;
    lastAnim = t;
  };
  const ANIM_QUIET = 45, ANIM_GAP = 120, ANIM_MAX = 1500;
  // A short interval is pending until its first tick (an animation an
  // action started has not changed anything yet); an animation frame is
  // pending until it ran, unless its chain has run for ANIM_MAX (a game
  // loop, a perpetual animation: observed as it is).
  const ivFirst = new Set();
  // Short intervals whose ticks changed the DOM, until cleared (jQuery
  // clears its fx timer when the last animation ends): id -> first change.
  const animIv = new Map();
  const liveIv = new Set(); // short intervals not cleared
  const oClearInterval = W.clearInterval.bind(W);
  W.setInterval = function (fn, ms, ...a) {
    if (typeof fn !== 'function' || !(ms <= 100)) return oSetInterval(fn, ms, ...a);
    const id = oSetInterval(function () {
      // A tick may clear its own interval (jQuery stops its timer in the
      // tick that ends the last animation): then it is no animation to
      // wait for any more.
      try { return fn.apply(this, a); } finally { if (liveIv.has(id)) animTick(id); if (ivFirst.delete(id)) poke(); }
    }, ms);
    ivFirst.add(id);
    liveIv.add(id);
    return id;
  };
  W.clearInterval = function (id) {
    liveIv.delete(id);
    const was = ivFirst.delete(id) | animIv.delete(id);
    if (was) poke();
    return oClearInterval(id);
  };
  const rafs = new Set();
  let inRaf = false, rafChain = -1e9;
  if (oRAF) {
    const oCancel = W.cancelAnimationFrame.bind(W);
    W.requestAnimationFrame = function (fn) {
      if (!inRaf && !rafs.size) rafChain = now();
      const id = oRAF((t) => {
        rafs.delete(id);
        inRaf = true;
        try { fn(t); } finally { inRaf = false; animTick(); poke(); }
      });
      rafs.add(id);
      return id;
    };
    W.cancelAnimationFrame = function (id) { if (rafs.delete(id)) poke(); return oCancel(id); };
  }
  // Work a page schedules by message is pending until it ran: React's
  // scheduler posts to a MessageChannel, setImmediate polyfills post to
  // the window. A marker posted right after on a channel of our own runs
  // once the page's message was handled (posted messages run in order), so
  // a chain of hops stays pending from its first post to its last marker,
  // unless it runs for ANIM_MAX (a loop: observed as it is).
  let msgs = 0, msgChain = -1e9;
  const mark = W.MessageChannel ? new MessageChannel() : null;
  if (mark && W.MessagePort) {
    mark.port1.onmessage = () => { msgs--; poke(); };
    const oPortPost = MessagePort.prototype.postMessage;
    const posted = () => {
      if (msgs++ === 0) msgChain = now();
      oPortPost.call(mark.port2, 0);
    };
    MessagePort.prototype.postMessage = function (...a) {
      const r = oPortPost.apply(this, a);
      posted();
      return r;
    };
    W.postMessage = function (...a) {
      const r = oPost.apply(W, a);
      posted();
      return r;
    };
  }
  // animLeft is how long animations still hold the settle wait: 0 when
  // none does, Infinity until an event that pokes the wait.
  const animLeft = (t) => {
    if (ivFirst.size > 0) return Infinity;
    let left = 0;
    if (msgs > 0) left = Math.max(left, ANIM_MAX - (t - msgChain));
    if (rafs.size > 0) left = Math.max(left, ANIM_MAX - (t - rafChain));
    for (const t0 of animIv.values()) left = Math.max(left, ANIM_MAX - (t - t0));
    return left;
  };
  // FileReader results arrive in a later task, like a fetch body.
  if (W.FileReader) {
    for (const m of ['readAsText', 'readAsDataURL', 'readAsArrayBuffer', 'readAsBinaryString']) {
      const o = FileReader.prototype[m];
      if (o) FileReader.prototype[m] = function (...a) {
        const k = begin();
        oAdd.call(this, 'loadend', () => { oSetTimeout(() => end(k), 0); }, { once: true });
        return o.apply(this, a);
      };
    }
  }
  trackMethods(W.Blob && Blob.prototype, ['text', 'arrayBuffer', 'bytes']);
  trackMethods(W.HTMLImageElement && HTMLImageElement.prototype, ['decode']);
  trackMethods(W.SubtleCrypto && SubtleCrypto.prototype, ['digest', 'encrypt', 'decrypt', 'sign', 'verify', 'generateKey', 'deriveKey', 'deriveBits', 'importKey', 'exportKey', 'wrapKey', 'unwrapKey']);
  trackMethods(W.CacheStorage && CacheStorage.prototype, ['open', 'match', 'has', 'keys', 'delete']);
  trackMethods(W.Cache && Cache.prototype, ['match', 'matchAll', 'add', 'addAll', 'put', 'delete', 'keys']);
  if (W.createImageBitmap) { const o = W.createImageBitmap; W.createImageBitmap = function (...a) { return track(o.apply(this, a)); }; }

  // Work that ends with an event, not a promise, and may never end (a
  // worker that does not answer, an image that streams forever): pending
  // until its event or for BG_MAX at most, so a page that leaves one open
  // costs one bounded wait, not every step.
  const BG_MAX = 2000, ASK_MAX = 1000;
  const bg = new Map(); // key -> when it stops counting
  let bgSeq = 0;
  // A wait begun inside a timer chain (a loop posting to a worker) ends
  // with the chain's CHAIN_MAX.
  const begin = (max) => {
    const k = ++bgSeq;
    let until = now() + (max || BG_MAX);
    if (chainOrigin !== null) until = Math.min(until, chainOrigin + CHAIN_MAX);
    bg.set(k, until);
    return k;
  };
  const end = (k) => { if (bg.delete(k)) poke(); };
  // bgLeft is how long the open waits still count (0: none).
  const bgLeft = (t) => {
    let left = 0;
    for (const [k, until] of bg) {
      if (until <= t) bg.delete(k);
      else left = Math.max(left, until - t);
    }
    return left;
  };
  const endOn = (target, k, events) => {
    const done = () => { for (const ev of events) target.removeEventListener(ev, done, true); end(k); };
    for (const ev of events) oAdd.call(target, ev, done, true);
  };
  // Asking a worker or a server over a WebSocket: each message sent is
  // pending until one comes back (request/response, as Comlink, chat
  // and RPC-over-WebSocket do). One only told things never answers: a
  // send counts for ASK_MAX, and once one went unanswered that long, the
  // channel's sends count no more until it answers.
  const asks = new WeakMap(), silent = new WeakSet();
  const asked = (ch) => {
    let q = asks.get(ch);
    if (!q) {
      q = [];
      asks.set(ch, q);
      oAdd.call(ch, 'message', () => { silent.delete(ch); const k = q.shift(); if (k) end(k); }, true);
      const fail = () => { for (const k of q.splice(0)) end(k); };
      for (const ev of ['error', 'messageerror', 'close']) oAdd.call(ch, ev, fail, true);
    }
    if (q.length && q.every((k) => !bg.has(k))) { silent.add(ch); q.length = 0; }
    if (!silent.has(ch)) q.push(begin(ASK_MAX));
  };
  const unask = (ch) => { const q = asks.get(ch); if (q) for (const k of q.splice(0)) end(k); };
  if (W.Worker) {
    const oWPost = Worker.prototype.postMessage, oTerm = Worker.prototype.terminate;
    Worker.prototype.postMessage = function (...a) { asked(this); return oWPost.apply(this, a); };
    Worker.prototype.terminate = function (...a) { unask(this); return oTerm.apply(this, a); };
  }
  if (W.WebSocket) {
    const oSend = WebSocket.prototype.send, oClose = WebSocket.prototype.close;
    WebSocket.prototype.send = function (...a) {
      if (this.readyState === 1) asked(this); // a send before open throws; after close it is dropped
      return oSend.apply(this, a);
    };
    WebSocket.prototype.close = function (...a) { unask(this); return oClose.apply(this, a); };
  }
  // A stream of server-sent events the page opens: pending until its
  // first event (servers often send the current state at once), and for
  // OPEN_GRACE ms after it opened when the stream stays silent (news
  // only), so a quiet stream costs one short wait.
  if (W.EventSource) {
    const oES = W.EventSource, OPEN_GRACE = 150;
    const first = new WeakMap(); // source -> key of its wait
    const heard = (es) => { const k = first.get(es); if (k) { first.delete(es); end(k); } };
    W.EventSource = class EventSource extends oES {
      constructor(...a) {
        super(...a);
        first.set(this, begin(ASK_MAX));
        for (const ev of ['message', 'error']) oAdd.call(this, ev, () => heard(this), true);
        oAdd.call(this, 'open', () => {
          const k = first.get(this);
          if (!k) return;
          end(k);
          first.set(this, begin(OPEN_GRACE));
        }, true);
      }
      // Named events (event: update) arrive only as their own type.
      addEventListener(type, ...a) {
        if (first.has(this) && typeof type === 'string') oAdd.call(this, type, () => heard(this), true);
        return super.addEventListener(type, ...a);
      }
    };
  }
  // IndexedDB: opening a database and each transaction, until they end.
  if (W.IDBFactory) {
    for (const m of ['open', 'deleteDatabase']) {
      const o = IDBFactory.prototype[m];
      IDBFactory.prototype[m] = function (...a) {
        const r = o.apply(this, a);
        endOn(r, begin(), ['success', 'error', 'blocked']);
        return r;
      };
    }
    const oTx = IDBDatabase.prototype.transaction;
    IDBDatabase.prototype.transaction = function (...a) {
      const tx = oTx.apply(this, a);
      endOn(tx, begin(), ['complete', 'abort']);
      return tx;
    };
  }
  if (W.requestIdleCallback) {
    const oRIC = W.requestIdleCallback.bind(W), oCIC = W.cancelIdleCallback.bind(W);
    const idle = new Map(); // id -> {k, late}
    // The headless renderer may give no idle period for seconds (seen in a
    // loaded CI run: 2 s); on a screen idle callbacks of an idle page run
    // within a frame or two. A callback still waiting after IDLE_LATE runs
    // as in an idle period of IDLE_SLICE ms, as rIC polyfills do.
    const IDLE_LATE = 150, IDLE_SLICE = 50;
    W.requestIdleCallback = function (fn, opts) {
      if (typeof fn !== 'function') return oRIC(fn, opts);
      const origin = originOf(fn);
      const k = inChain(origin, () => begin());
      let ran = false;
      const run = (d) => {
        if (ran) return;
        ran = true;
        idle.delete(id);
        oClearTimeout(late);
        try { inChain(origin, () => fn(d)); } finally { end(k); }
      };
      const id = oRIC(run, opts);
      const late = oSetTimeout(() => {
        if (ran) return;
        oCIC(id);
        const t0 = now();
        run({ didTimeout: false, timeRemaining: () => Math.max(0, IDLE_SLICE - (now() - t0)) });
      }, IDLE_LATE);
      idle.set(id, { k, late });
      // Idle periods follow frames; after input the headless renderer
      // draws none until something asks for one, so idle callbacks would
      // wait for the next action. A frame asked for here lets them run
      // as they would on a screen.
      if (oRAF) oRAF(() => {});
      return id;
    };
    W.cancelIdleCallback = function (id) {
      const r = idle.get(id);
      idle.delete(id);
      if (r) { oClearTimeout(r.late); end(r.k); }
      return oCIC(id);
    };
  }
  // Resources a page loads after it loaded (script chunks, images,
  // stylesheets): pending until their load or error event. Seen as
  // elements enter the DOM or change their source (resourcesIn), and for
  // images outside the DOM, as their src is set.
  const loading = new WeakMap(); // element -> key
  const RES = 'script[src],img,link[href]';
  const JS = /^((text|application)\/(java|ecma)script|module)?$/i;
  const watchLoad = (el) => {
    if (loading.has(el)) return;
    switch (el.localName) {
      case 'script':
        if (!el.isConnected || !el.src || el.noModule || !JS.test(el.type.trim())) return;
        break;
      case 'img':
        if (el.complete || el.loading === 'lazy') return;
        break;
      case 'link':
        if (!el.isConnected || !/\b(stylesheet|modulepreload|preload)\b/i.test(el.rel) || el.sheet) return;
        break;
      default:
        return;
    }
    const k = begin();
    loading.set(el, k);
    const done = () => {
      for (const ev of ['load', 'error', 'abort']) el.removeEventListener(ev, done, true);
      if (loading.get(el) === k) loading.delete(el);
      end(k);
    };
    for (const ev of ['load', 'error', 'abort']) oAdd.call(el, ev, done, true);
  };
  const resourcesIn = (recs) => {
    for (const r of recs) {
      if (r.type === 'attributes') {
        if (r.target.nodeType === 1 && (r.attributeName === 'src' || r.attributeName === 'href' || r.attributeName === 'srcset')) {
          loading.delete(r.target);
          watchLoad(r.target);
        }
        continue;
      }
      for (const n of r.addedNodes) {
        if (n.nodeType !== 1) continue;
        if (n.matches(RES)) watchLoad(n);
        if (n.firstElementChild) for (const el of n.querySelectorAll(RES)) watchLoad(el);
        const sr = shadowOf(n);
        if (sr) observeRoot(sr);
      }
    }
  };
  if (W.HTMLImageElement) {
    for (const prop of ['src', 'srcset']) {
      const d = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, prop);
      if (!d || !d.set) continue;
      Object.defineProperty(HTMLImageElement.prototype, prop, {
        ...d,
        set(v) { d.set.call(this, v); if (!this.isConnected) { loading.delete(this); watchLoad(this); } },
      });
    }
  }
  // ResizeObserver and IntersectionObserver report in the frame after a
  // change (a layout switch, an infinite scroll's sentinel coming into
  // view), and the headless renderer draws that frame only when asked, up
  // to a frame interval after the quiet period ends. A page that uses
  // them is settled only once a frame was drawn after its last DOM change
  // or scroll made outside a frame (changes made in a frame are what the
  // frame shows), plus FRAME_GRACE for the tasks that frame queued; a
  // frame that does not come holds the wait for FRAME_MAX at most.
  let usesObs = false, inFrame = false;
  let lastOutside = -1e9, lastFrame = -1e9, frameAsked = -1e9;
  const FRAME_GRACE = 2, FRAME_MAX = 100;
  for (const C of [W.ResizeObserver, W.IntersectionObserver]) {
    if (!C) continue;
    const o = C.prototype.observe;
    C.prototype.observe = function (...a) { usesObs = true; return o.apply(this, a); };
  }
  const outside = () => { if (!inFrame && !inRaf) lastOutside = now(); };
  // A scroll the page makes (scrollIntoView after a click, a chat
  // scrolled to its end) reports its scroll event only in the next frame:
  // the call itself says a frame is needed.
  for (const [obj, names] of [[W.Element && Element.prototype, ['scrollIntoView', 'scrollTo', 'scrollBy', 'scroll']], [W, ['scrollTo', 'scrollBy', 'scroll']]]) {
    if (!obj) continue;
    for (const m of names) {
      const o = obj[m];
      if (typeof o !== 'function') continue;
      obj[m] = function (...a) { outside(); return o.apply(this, a); };
    }
  }
  for (const prop of ['scrollTop', 'scrollLeft']) {
    const d = W.Element && Object.getOwnPropertyDescriptor(Element.prototype, prop);
    if (!d || !d.set) continue;
    Object.defineProperty(Element.prototype, prop, { ...d, set(v) { outside(); d.set.call(this, v); } });
  }
  const frameLeft = (t) => {
    if (!usesObs || !oRAF) return 0;
    if (lastFrame >= lastOutside) return Math.max(0, FRAME_GRACE - (t - lastFrame));
    if (frameAsked <= lastFrame) {
      frameAsked = t;
      oRAF(() => {
        inFrame = true;
        lastFrame = now();
        oSetTimeout(() => { inFrame = false; poke(); }, 0);
      });
    }
    return Math.max(0, FRAME_MAX - (t - frameAsked));
  };
  // A click on a link that downloads rather than navigates (download
  // attribute, a blob: or data: URL, as "save file" buttons make them)
  // starts no navigation the settle wait could follow: the Go side waits
  // for the download itself when the settle answer says one was clicked.
  let downloadClicked = false;
  const downloadLink = (a) => a && a.localName === 'a' && a.href && (a.hasAttribute('download') || /^(blob|data):/i.test(a.href));
  oAdd.call(W, 'click', (e) => {
    const a = e.target && e.target.closest ? e.target.closest('a') : null;
    if (downloadLink(a) && !e.defaultPrevented) downloadClicked = true;
  }, false);
  if (W.HTMLAnchorElement) {
    const oClick = HTMLElement.prototype.click;
    HTMLAnchorElement.prototype.click = function (...a) {
      if (!this.isConnected && downloadLink(this)) downloadClicked = true; // a detached link's click reaches no listener here
      return oClick.apply(this, a);
    };
  }
  const takeDownloadClick = () => { const d = downloadClicked; downloadClicked = false; return d; };
  // ---- the clipboard. Chromium's is one for the whole browser, shared by
  // every episode's context and every env of the process: an episode
  // could paste what another copied. So nothing here uses it: copy, cut
  // and paste keys, execCommand('copy') and navigator.clipboard.writeText
  // go through the episode's own clipboard, kept by the Go side (Session),
  // which hands it over for a paste; the page's copy, cut and paste
  // events fire as in a browser and may change what is copied or take
  // over the paste.
  let clipOut = null; // what the page put on the clipboard since the last settle answer
  const takeClip = () => { const c = clipOut; clipOut = null; return c; };
  function selectedText() {
    const a = deepActive(document);
    if (a && (a.tagName === 'INPUT' || a.tagName === 'TEXTAREA')) {
      try { if (typeof a.selectionStart === 'number') return a.value.substring(a.selectionStart, a.selectionEnd); } catch (e) { /* no selection API (e.g. email) */ }
    }
    const sel = document.getSelection();
    return sel ? sel.toString() : '';
  }
  // copyOut fires copy or cut at the focused element and answers what it
  // copies: the page's setData when it prevents the default, else the
  // selection (a cut then deletes it from an editable field).
  function copyOut(type) {
    const target = deepActive(document) || document.body || document.documentElement;
    const dt = new DataTransfer();
    const ev = new ClipboardEvent(type, { clipboardData: dt, bubbles: true, cancelable: true, composed: true });
    target.dispatchEvent(ev);
    if (ev.defaultPrevented) return dt.getData('text/plain');
    const text = selectedText();
    if (type === 'cut' && text) oExec.call(document, 'delete');
    return text;
  }
  const oExec = Document.prototype.execCommand;
  Document.prototype.execCommand = function (cmd, ...a) {
    const c = String(cmd).toLowerCase();
    if (this === document && (c === 'copy' || c === 'cut')) { clipOut = copyOut(c); return true; }
    return oExec.call(this, cmd, ...a);
  };
  if (W.Clipboard) {
    // A page's copy button (writeText after a click) works as on a
    // screen, where Chrome allows it without asking; reading stays
    // denied, as Chrome asks the user first.
    Clipboard.prototype.writeText = function (text) { clipOut = String(text); return Promise.resolve(); };
    const oWrite = Clipboard.prototype.write;
    Clipboard.prototype.write = async function (items) {
      for (const it of items || []) {
        if (it && it.types && it.types.includes('text/plain')) { clipOut = await (await it.getType('text/plain')).text(); return; }
      }
      return oWrite.call(this, items);
    };
  }
  // keyPrevented: the page took the last key press for itself (an editor
  // handling Control+c on its own), so the browser would not copy.
  // Blink runs the shortcuts itself as the key's default action, with the
  // shared clipboard: that default is cancelled here (after the page's
  // own handlers below the window saw the key), and clipboardOp does it.
  let keyPrevented = false;
  const clipKey = (e) => {
    if (e.altKey || e.metaKey) return false;
    const k = (e.key || '').toLowerCase();
    if (e.ctrlKey && !e.shiftKey) return k === 'c' || k === 'x' || k === 'v' || k === 'insert';
    if (e.ctrlKey && e.shiftKey && k === 'v') return true; // paste as plain text
    return e.shiftKey && !e.ctrlKey && (k === 'insert' || k === 'delete');
  };
  oAdd.call(W, 'keydown', (e) => {
    keyPrevented = e.defaultPrevented;
    if (e.isTrusted && clipKey(e)) e.preventDefault();
  }, false);
  // clipboardOp runs a copy, cut or paste key in the focused frame: copy and cut
  // answer {text}; paste fires the paste event with text and answers
  // whether the browser should insert it ({insert}).
  async function clipboardOp(kind, text) {
    const a = document.activeElement;
    if (a && (a.tagName === 'IFRAME' || a.tagName === 'FRAME')) {
      const r = await callFrame(a, 'clip', [kind, text]);
      if (r) return r;
    }
    if (keyPrevented) return { prevented: true };
    if (kind === 'copy' || kind === 'cut') return { text: copyOut(kind) };
    const target = deepActive(document) || document.body || document.documentElement;
    const dt = new DataTransfer();
    dt.setData('text/plain', text);
    const ev = new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true, composed: true });
    target.dispatchEvent(ev);
    return { insert: !ev.defaultPrevented };
  }
  // beforeunload fires when a navigation of this document starts, before the
  // request goes out: the settle wait must then wait for the next document.
  const unload = () => { unloading = true; for (const w of Array.from(waiters)) w(); };
  oAdd.call(W, 'beforeunload', unload);
  oAdd.call(W, 'pagehide', unload);
  oAdd.call(W, 'pageshow', () => { unloading = false; lastMut = now(); poke(); });
  oAdd.call(document, 'readystatechange', poke);
  oAdd.call(W, 'load', poke);
  // The quiet period runs from the later of the last DOM change and the
  // last input, so work an action starts is waited for even when it has
  // not touched the DOM yet.
  const inputSeen = () => { lastInput = now(); };
  for (const ev of ['mousemove', 'mousedown', 'mouseup', 'click', 'keydown', 'keyup', 'input', 'change', 'wheel', 'scroll', 'dragend', 'drop']) {
    oAdd.call(W, ev, inputSeen, { capture: true, passive: true });
  }
  oAdd.call(W, 'invalid', onInvalid, true);
  // Of the input, only scrolling moves things for the observers by
  // itself; other input does so through the DOM changes it causes.
  for (const ev of ['scroll', 'wheel']) oAdd.call(W, ev, outside, { capture: true, passive: true });
  const MO_OPTS = { subtree: true, childList: true, attributes: true, characterData: true };
  mo = new MutationObserver((recs) => { lastMut = now(); outside(); resourcesIn(recs); });
  mo.observe(document, MO_OPTS);
  // Shadow trees are outside the document's subtree: each root is
  // observed on its own, so changes inside web components count too.
  const seenRoots = new WeakSet();
  function observeRoot(r) {
    if (seenRoots.has(r)) return;
    seenRoots.add(r);
    mo.observe(r, MO_OPTS);
    oAdd.call(r, 'invalid', onInvalid, true); // does not leave the shadow tree
  }


  // ---- frames: requests from the parent, replies from children
  const replies = new Map();
  let seq = 0;
  oAdd.call(W, 'message', (e) => {
    const d = e.data;
    if (!d || typeof d !== 'object' || d[KEY] !== TOKEN) return;
    oStop.call(e);
    if (d.reply) {
      const r = replies.get(d.seq);
      if (r) { replies.delete(d.seq); r(d.value); }
      return;
    }
    if (e.source !== W.parent || W.parent === W) return;
    Promise.resolve().then(() => rpc(d.op, d.args)).catch((err) => ({ error: String(err) }))
      .then((v) => { try { oPost.call(e.source, { [KEY]: TOKEN, reply: 1, seq: d.seq, value: v }, '*'); } catch (err) { /* parent gone */ } });
  }, true);

  // callFrame runs op in the document of frame element f: directly when it
  // is same-origin, else by message. null when the frame does not answer.
  function callFrame(f, op, args, timeout) {
    let cw = null;
    try { cw = f.contentWindow; } catch (e) { cw = null; }
    if (!cw) return Promise.resolve(null);
    try {
      const g = cw.__egym;
      if (g && g.rpc) return Promise.resolve(g.rpc(op, args)).catch(() => null);
    } catch (e) { /* cross-origin: message it */ }
    return new Promise((resolve) => {
      const s = ++seq;
      replies.set(s, resolve);
      try { oPost.call(cw, { [KEY]: TOKEN, seq: s, op: op, args: args }, '*'); } catch (e) { replies.delete(s); resolve(null); return; }
      oSetTimeout(() => { if (replies.delete(s)) resolve(null); }, timeout || 1500);
    });
  }

  // Content-box origin of frame element f in its document's viewport.
  function frameOrigin(f) {
    const r = f.getBoundingClientRect();
    const cs = getComputedStyle(f);
    return [r.left + f.clientLeft + parseFloat(cs.paddingLeft || 0), r.top + f.clientTop + parseFloat(cs.paddingTop || 0)];
  }

  // Offset from el's document viewport to this window's viewport, for
  // elements of same-origin documents without a script of their own that
  // are walked from here.
  function docOffset(el) {
    let x = 0, y = 0;
    let v = el.ownerDocument.defaultView;
    while (v && v !== W) {
      const f = v.frameElement;
      if (!f) break;
      const [fx, fy] = frameOrigin(f);
      x += fx; y += fy;
      v = f.ownerDocument.defaultView;
    }
    return [x, y];
  }

  // ---- roles and names
  const SKIP = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'HEAD', 'META', 'LINK', 'TITLE', 'defs', 'clipPath', 'mask', 'linearGradient', 'radialGradient', 'pattern', 'marker', 'symbol', 'style', 'script', 'title', 'desc', 'metadata']);
  const TEXTY = new Set(['', 'text', 'email', 'password', 'search', 'tel', 'url', 'number']);
  const VALUE_TYPES = {
    date: ['YYYY-MM-DD', 'e.g. "2024-03-09"', /^\d{4,}-\d\d-\d\d$/],
    time: ['HH:MM or HH:MM:SS (24-hour)', 'e.g. "14:05"', /^\d\d:\d\d(:\d\d(\.\d{1,3})?)?$/],
    'datetime-local': ['YYYY-MM-DDTHH:MM', 'e.g. "2024-03-09T14:05"', /^\d{4,}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d{1,3})?)?$/],
    month: ['YYYY-MM', 'e.g. "2024-03"', /^\d{4,}-\d\d$/],
    week: ['YYYY-Www', 'e.g. "2024-W10"', /^\d{4,}-W\d\d$/],
    color: ['#rrggbb', 'e.g. "#ff8800"', /^#[0-9a-fA-F]{6}$/],
    range: ['a number', '', /^\s*[-+]?(\d+\.?\d*|\.\d+)\s*$/],
  };
  const LEAF_ROLES = new Set(['button', 'link', 'checkbox', 'radio', 'textbox', 'combobox', 'listbox', 'menuitem', 'menuitemcheckbox', 'menuitemradio', 'tab', 'option', 'switch', 'gridcell', 'treeitem', 'searchbox', 'slider', 'spinbutton', 'img', 'canvas']);
  const FORM_TAGS = new Set(['INPUT', 'SELECT', 'TEXTAREA', 'BUTTON']);
  const HOLDERS = new Set(['option', 'tab', 'treeitem', 'menuitem', 'gridcell']);
  const CONTROLS = 'button,a[href],input,select,textarea,[role=button],[role=link],[role=checkbox],[role=switch]';
  const isSVG = (el) => el.namespaceURI === 'http://www.w3.org/2000/svg';
  const clip = (s, n) => { s = (s || '').replace(/\s+/g, ' ').trim(); return s.length > n ? s.slice(0, n - 1) + '…' : s; };
  const inputType = (el) => (el.getAttribute('type') || '').toLowerCase();

  function role(el) {
    const r = el.getAttribute('role');
    if (r && r !== 'presentation' && r !== 'none' && r !== 'generic') return r;
    switch (el.tagName) {
      case 'A': return el.hasAttribute('href') ? 'link' : '';
      case 'a': return 'link'; // SVG
      case 'BUTTON': case 'SUMMARY': return 'button';
      case 'SELECT': return el.multiple || el.size > 1 ? 'listbox' : 'combobox';
      case 'TEXTAREA': return 'textbox';
      case 'IMG': return el.alt ? 'img' : '';
      case 'CANVAS': return 'canvas';
      case 'IFRAME': case 'FRAME': return 'frame';
      case 'H1': case 'H2': case 'H3': case 'H4': case 'H5': case 'H6': return 'heading';
      case 'INPUT': {
        const ty = inputType(el);
        if (ty === 'hidden') return 'hidden';
        if (ty === 'checkbox' || ty === 'radio') return ty;
        if (ty === 'button' || ty === 'submit' || ty === 'reset' || ty === 'image' || ty === 'file') return 'button';
        if (ty === 'range') return 'slider';
        return 'textbox';
      }
    }
    if (el.isContentEditable && el.getAttribute('contenteditable') !== null && el.getAttribute('contenteditable') !== 'false') return 'textbox';
    return '';
  }

  // clickable reports whether the page reacts to clicks on el: a listener
  // or handler on it, a focusable tabindex, a jQuery delegated selector, or
  // a pointer cursor that its parent does not have (the outermost element
  // of a clickable area).
  const HANDLERS = ['onclick', 'onmousedown', 'onmouseup', 'ondblclick', 'oncontextmenu', 'onauxclick', 'onpointerdown', 'onpointerup', 'ontouchstart'];
  function handled(el) {
    for (const h of HANDLERS) if (typeof el[h] === 'function') return true; // properties and attributes alike
    return false;
  }
  function clickable(el, parentCursor, cs) {
    if (listened.has(el) || handled(el) || el.hasAttribute('onclick') || el.hasAttribute('onmousedown') || el.hasAttribute('data-clickable')) return true;
    if (el.hasAttribute('tabindex') && el.tabIndex >= 0) return true;
    if (jqDelegated && jqDelegated.has(el)) return true;
    if (el.getAttribute('draggable') === 'true') return true;
    return cs.cursor === 'pointer' && parentCursor !== 'pointer';
  }

  // jQuery keeps delegated handlers' selectors in its data; a listener on
  // document does not say which elements it serves, the selector does.
  let jqDelegated = null;
  function jqSelectors() {
    jqDelegated = null;
    const jq = W.jQuery;
    if (!jq || typeof jq._data !== 'function') return;
    const set = new Set();
    for (const root of [document, document.body]) {
      let ev = null;
      try { ev = jq._data(root, 'events'); } catch (e) { ev = null; }
      if (!ev) continue;
      for (const type of ['click', 'mousedown', 'mouseup', 'dblclick']) {
        for (const h of ev[type] || []) {
          if (!h.selector) continue;
          try { for (const e of document.querySelectorAll(h.selector)) set.add(e); } catch (e) { /* jQuery-only selector */ }
        }
      }
    }
    jqDelegated = set;
  }

  function labelText(l) {
    let s = '';
    for (const c of l.childNodes) {
      if (c.nodeType === 3) s += c.data;
      else if (c.nodeType === 1 && !/^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(c.tagName)) s += ' ' + (c.innerText || c.textContent);
    }
    return s;
  }

  function textOf(el) {
    if (isSVG(el)) return el.textContent || '';
    const t = el.innerText;
    if (t && t.trim()) return t;
    return flatText(el);
  }

  // flatText is the text of el's flat tree (shadow roots, slotted nodes),
  // which innerText leaves out.
  function flatText(el) {
    let s = '';
    for (const c of childrenOf(el)) {
      if (c.nodeType === 3) s += c.data;
      else if (c.nodeType === 1 && !SKIP.has(c.tagName)) s += ' ' + (shadowOf(c) || c.tagName === 'SLOT' || !c.innerText ? flatText(c) : c.innerText);
    }
    return s;
  }

  function labelOf(el) {
    const al = el.getAttribute('aria-label');
    if (al) return al;
    const lb = el.getAttribute('aria-labelledby');
    if (lb) {
      const root = el.getRootNode();
      const s = lb.split(/\s+/).map((id) => (root.getElementById ? root.getElementById(id) : null) || document.getElementById(id)).filter(Boolean).map(textOf).join(' ');
      if (s.trim()) return s;
    }
    if (el.labels && el.labels.length) return Array.from(el.labels).map(labelText).join(' ');
    if (isSVG(el)) {
      const t = Array.from(el.children).find((c) => c.tagName === 'title');
      if (t && t.textContent.trim()) return t.textContent;
    }
    return '';
  }

  const WORDY = /[\p{L}\p{N}]/u;
  // iconName is the alt of an image or the title of an SVG inside el.
  function iconName(el) {
    const im = el.querySelector('img[alt], svg > title');
    if (!im) return '';
    return (im.tagName === 'IMG' ? im.getAttribute('alt') : im.textContent).trim();
  }

  function nameOf(el, r) {
    let n = labelOf(el);
    // A widget wrapping a native field (a select a library replaced)
    // keeps that field's label.
    if (!n && r === 'combobox' && !FORM_TAGS.has(el.tagName)) {
      const f = el.querySelector('select,input');
      if (f && f.labels && f.labels.length) n = Array.from(f.labels).map(labelText).join(' ');
    }
    if (!n) {
      if (r === 'textbox' || r === 'combobox' || r === 'searchbox' || r === 'slider' || r === 'listbox') n = el.getAttribute('placeholder') || el.getAttribute('name') || el.title || el.id || '';
      else if (el.tagName === 'INPUT') n = inputType(el) === 'file' ? (el.getAttribute('name') || 'Choose file') : el.value || el.getAttribute('alt') || el.title || '';
      else if (el.tagName === 'IMG') n = el.alt;
      else if (r === 'canvas') n = el.title || el.id || 'canvas';
      else if (r === 'frame') n = el.title || el.name || el.getAttribute('src') || 'frame';
      else {
        // Text without a letter or digit is an icon (🗑, ×, ⋯, ›): its
        // title, or an image's alt inside, says what it does.
        const tx = textOf(el) || '';
        n = WORDY.test(tx) ? tx : el.title || el.getAttribute('alt') || iconName(el) || tx;
      }
      if (!n.trim() && (r === 'textbox' || r === 'combobox' || r === 'searchbox')) n = el.getAttribute('aria-placeholder') || el.getAttribute('data-placeholder') || '';
      // Text the page's CSS puts before or after it (an editor's
      // placeholder, a picker's current choice) is part of its name.
      if (!n.trim()) n = pseudoText(el);
      if (!n.trim() && isSVG(el)) n = el.tagName + ' ' + (el.getAttribute('fill') || getComputedStyle(el).fill || '');
    }
    return clip(n, 100);
  }

  // ownText is el's text without that of the controls inside it.
  function ownText(el) {
    let s = '';
    for (const c of childrenOf(el)) {
      if (c.nodeType === 3) s += c.data;
      else if (c.nodeType === 1 && !SKIP.has(c.tagName) && !c.matches(CONTROLS) && c.getAttribute('aria-hidden') !== 'true') s += ' ' + ownText(c);
    }
    return s;
  }

  // pseudoText is the text of el's ::before and ::after content, when it
  // has a letter or digit (icon fonts use private-use characters).
  function pseudoText(el) {
    let s = '';
    for (const p of ['::before', '::after']) {
      const c = getComputedStyle(el, p).content;
      if (!c || c === 'none' || c === 'normal') continue;
      const q = c.match(/^"((?:[^"\\]|\\.)*)"$/);
      const a = c.match(/^attr\(([\w-]+)\)$/);
      const t = q ? q[1].replace(/\\(.)/g, '$1') : a ? el.getAttribute(a[1]) || '' : '';
      if (WORDY.test(t)) s += ' ' + t;
    }
    return s.trim();
  }

  // hint says what a target without a name may be: its id or its first
  // class names, unless they look generated (css-1x2y3z).
  function hint(n, el) {
    if (n.name) return;
    const ok = (t) => /^[A-Za-z][\w-]{2,}$/.test(t) && !/^(css|sc|jsx|svelte|emotion|tw)-|[0-9a-f]{5,}|\d{3,}/.test(t);
    const h = el.id && ok(el.id) ? el.id : Array.from(el.classList || []).filter(ok).slice(0, 2).join(' ');
    if (h) n.hint = clip(h, 60);
  }

  function visible(el) {
    if (el.checkVisibility && !el.checkVisibility({ visibilityProperty: true })) {
      // A slot (and any display: contents element) has no box of its own;
      // its children may.
      return getComputedStyle(el).display === 'contents';
    }
    return true;
  }

  // ---- ids: this document's elements have local ids; elements of child
  // frames get ids here that map to (frame, child id).
  const ids = new WeakMap(); // element -> id
  const els = new Map(); // id -> WeakRef(element)
  const remote = new Map(); // id -> {frame: WeakRef(frame element), id: child id}
  const fmap = new WeakMap(); // frame element -> {doc, ids: Map(child id -> id)}
  function bid(el) {
    let b = ids.get(el);
    if (!b) { b = next++; ids.set(el, b); els.set(b, new WeakRef(el)); }
    return b;
  }
  function frameID(f, doc, childID) {
    let m = fmap.get(f);
    if (!m || m.doc !== doc) { m = { doc: doc, ids: new Map() }; fmap.set(f, m); }
    let g = m.ids.get(childID);
    if (!g) { g = next++; m.ids.set(childID, g); remote.set(g, { frame: new WeakRef(f), id: childID }); }
    return g;
  }

  function box(el) {
    const r = el.getBoundingClientRect();
    const [ox, oy] = docOffset(el);
    return [Math.round(r.left + ox), Math.round(r.top + oy), Math.round(r.width), Math.round(r.height)];
  }

  function blockChildren(el) {
    for (const c of el.children) {
      const d = getComputedStyle(c).display;
      if (d !== 'inline' && d !== 'inline-block' && d !== 'contents' && d !== 'none') return true;
    }
    return false;
  }

  // childrenOf is the flat tree: a host's shadow root instead of its light
  // children, a slot's assigned nodes.
  function childrenOf(el) {
    const sr = shadowOf(el);
    if (sr) return sr.childNodes;
    if (el.tagName === 'SLOT') {
      const a = el.assignedNodes({ flatten: true });
      if (a.length) return a;
    }
    return el.childNodes;
  }

  // Fields the browser's own validation reported (a submit blocked by
  // required, type or pattern, with a bubble that is not in the DOM):
  // shown with the browser's message while they stay invalid.
  const reported = new WeakSet();
  function onInvalid(e) { if (e.target && e.target.nodeType === 1) reported.add(e.target); }
  function invalidText(el) {
    if (reported.has(el) && el.willValidate && !el.validity.valid) return el.validationMessage || 'invalid';
    if (el.getAttribute('aria-invalid') !== 'true' && el.getAttribute('aria-invalid') !== 'grammar' && el.getAttribute('aria-invalid') !== 'spelling') return '';
    const em = el.getAttribute('aria-errormessage');
    const m = em && el.getRootNode().getElementById ? el.getRootNode().getElementById(em) : null;
    return (m && m.innerText && m.innerText.trim()) || 'the page marks this field invalid';
  }
  let focusedEl = null; // the deep active element, per observation
  function leafNode(el, r) {
    const n = { id: bid(el), role: r === 'searchbox' ? 'textbox' : r, name: nameOf(el, r) };
    const ty = el.tagName === 'INPUT' ? inputType(el) : '';
    if (r === 'textbox' || r === 'searchbox' || r === 'slider' || r === 'spinbutton') {
      n.value = clip(el.isContentEditable ? el.innerText : (el.value !== undefined ? el.value : el.getAttribute('aria-valuenow')), 200);
      if (ty && !TEXTY.has(ty)) n.type = ty;
      if (el.isContentEditable) n.type = 'contenteditable';
    }
    if (ty === 'file') { n.type = 'file'; if (el.files && el.files.length) n.value = clip(Array.from(el.files).map((f) => f.name).join(', '), 200); }
    if (r === 'checkbox' || r === 'radio' || r === 'switch' || r === 'menuitemcheckbox') n.checked = el.tagName === 'INPUT' ? el.checked : el.getAttribute('aria-checked') === 'true';
    if (el.tagName === 'SELECT') {
      n.options = Array.from(el.options).map((o) => clip(o.text, 60));
      if (el.multiple) { n.values = Array.from(el.selectedOptions).map((o) => clip(o.text, 60)); n.type = 'multiple'; }
      else n.value = el.selectedIndex >= 0 ? clip(el.options[el.selectedIndex].text, 60) : '';
    }
    if (el.disabled || el.getAttribute('aria-disabled') === 'true') n.disabled = true;
    if ((r === 'textbox' || r === 'searchbox') && el.readOnly) n.readonly = true;
    if (el.getAttribute('aria-selected') === 'true' || el.getAttribute('aria-current')) n.selected = true;
    if (el.hasAttribute('aria-expanded')) n.expanded = el.getAttribute('aria-expanded') === 'true';
    if (focusedEl === el && r !== 'link' && r !== 'button') n.focused = true;
    if (r === 'canvas' || isSVG(el)) n.box = box(el);
    const inv = invalidText(el);
    if (inv) n.invalid = clip(inv, 160);
    hint(n, el);
    return n;
  }

  function deepActive(doc) {
    let a = doc.activeElement;
    while (a) {
      const sr = shadowOf(a);
      if (!sr || !sr.activeElement) break;
      a = sr.activeElement;
    }
    return a;
  }

  // walk appends el's lines to out and reports whether any of them can be
  // acted on. frames collects the child frames answered after the walk.
  function walk(el, out, frames, limit, parentCursor, delegate) {
    if (out.length >= limit) return false;
    if (!marks) return walkEl(el, out, frames, limit, parentCursor, delegate);
    if (!marks.length || marks[marks.length - 1][0] !== out.length) marks.push([out.length, el]);
    const from = out.length;
    const act = walkEl(el, out, frames, limit, parentCursor, delegate);
    if (out.length > from && pinnedEls.has(el)) pinned.push([from, out.length, el]);
    return act;
  }
  function walkEl(el, out, frames, limit, parentCursor, delegate) {
    if (SKIP.has(el.tagName) || el.getAttribute('aria-hidden') === 'true' || !visible(el)) return false;
    const r = role(el);
    if (r === 'hidden') return false;
    // A field marked hidden that a library's CSS still displays (for the
    // browser's validation) was replaced by that library's widget.
    if (FORM_TAGS.has(el.tagName) && el.hasAttribute('hidden')) return false;
    if (r === 'frame') return walkFrame(el, out, frames, limit);
    // A dialog (an open <dialog>, role=dialog) says so before its content,
    // and whether it is modal: then nothing outside it can be clicked.
    if (el.tagName === 'DIALOG' || r === 'dialog' || r === 'alertdialog') out.push(dialogLine(el));
    // An ARIA listbox is a container of options; a <select> is one control.
    if (LEAF_ROLES.has(r) && (r !== 'listbox' || el.tagName === 'SELECT')) {
      out.push(leafNode(el, r));
      // A combobox that holds its own field and options (ARIA 1.0's
      // pattern: Choices.js, older select widgets) is also a container:
      // its selected item, search field and open list are its parts.
      if (r === 'combobox' && !FORM_TAGS.has(el.tagName) && el.querySelector('input,[role=option],[role=listbox],[role=textbox],[role=searchbox]')) {
        walkChildren(el, out, frames, limit, getComputedStyle(el).cursor, delegate, false);
      } else if (HOLDERS.has(r) && el.querySelector(CONTROLS)) {
        // An item holding controls of its own (a tab's close button, a
        // chosen item's remove button): named by its own text, its
        // controls follow it.
        const n = out[out.length - 1];
        n.name = clip(labelOf(el) || ownText(el), 100);
        for (const c of el.querySelectorAll(CONTROLS)) {
          const up = c.parentElement.closest(CONTROLS);
          if (up && el.contains(up)) continue; // inside a control already walked
          walk(c, out, frames, limit, '', false);
        }
      }
      return true;
    }
    if (r === 'heading') { const t = clip(textOf(el), 160); if (t) out.push({ id: 0, role: 'heading', name: t }); return false; }
    const cs = getComputedStyle(el);
    if (marks && (cs.position === 'fixed' || cs.position === 'sticky')) pinnedEls.add(el);
    const click = clickable(el, parentCursor, cs);
    if (el.tagName === 'TR' && !click && !delegate && !el.querySelector('a[href],button,input,select,textarea,[role],[onclick],[tabindex],[contenteditable]') && !listenedBelow(el)) {
      const cells = Array.from(el.cells).map((c) => clip(c.innerText, 60));
      if (cells.some(Boolean)) out.push({ id: 0, role: 'row', name: cells.join(' | ') });
      return false;
    }
    if (el.tagName === 'svg' && !click) {
      // A drawing: its shapes may be targets; name it and give its box.
      const start = out.length;
      out.push({ id: 0, role: 'img', name: clip(labelOf(el) || 'svg', 100), box: box(el) });
      const act = walkChildren(el, out, frames, limit, cs.cursor, delegate, true);
      if (!act && out.length === start + 1 && !(labelOf(el))) out.length = start;
      return act;
    }
    // Children first: a clickable area that holds other targets is not one
    // itself; its parts are.
    const start = out.length;
    const act = walkChildren(el, out, frames, limit, cs.cursor, delegate || (click && delegationRoot(el)), false);
    if (act) return true;
    if (click) {
      out.length = start;
      const n = { id: bid(el), role: el.tagName === 'A' ? 'link' : 'clickable', name: nameOf(el, 'clickable') };
      hint(n, el);
      if (isSVG(el) || cs.cursor === 'crosshair') n.box = box(el);
      if (el.getAttribute('aria-pressed') === 'true' || el.getAttribute('aria-selected') === 'true') n.selected = true;
      out.push(n);
      return true;
    }
    return false;
  }

  function dialogLine(el) {
    let name = el.getAttribute('aria-label') || '';
    const by = el.getAttribute('aria-labelledby');
    if (!name && by) name = by.split(/\s+/).map((i) => { const e = el.ownerDocument.getElementById(i); return e ? e.innerText : ''; }).join(' ');
    if (!name) { const h = el.querySelector('h1,h2,h3,h4,h5,h6,[role=heading]'); if (h) name = h.innerText; }
    const n = { id: 0, role: 'dialog', name: clip(name, 100) };
    let modal = el.getAttribute('aria-modal') === 'true';
    try { modal = modal || el.matches(':modal'); } catch (e) { /* no :modal */ }
    if (modal) n.modal = true;
    return n;
  }

  // delegationRoot: a listener on a container (a list, a toolbar) serves
  // its parts. Not on the page itself or an app's root element, whose
  // listeners (React's, analytics) serve everything and say nothing.
  function delegationRoot(el) {
    if (el === document.body || el === document.documentElement || !clickListened.has(el) || appRoot(el)) return false;
    return el.getElementsByTagName('*').length <= 200;
  }

  function listenedBelow(el) {
    for (const c of el.querySelectorAll('*')) if (listened.has(c)) return true;
    return false;
  }

  function walkChildren(el, out, frames, limit, cursor, delegate, svg) {
    const kids = childrenOf(el);
    // Text-only content becomes one line, unless this is a delegation
    // container whose children are the targets.
    const shadow = !!shadowOf(el) || el.tagName === 'SLOT';
    if (!svg && !shadow && !delegate && !hasElementKids(kids)) {
      const t = clip(el.innerText, 300);
      if (t) out.push({ id: 0, role: 'text', name: t });
      return false;
    }
    const quietText = el.tagName === 'LABEL' && el.control;
    let text = '';
    let act = false;
    const flush = () => {
      if (text.trim() && !quietText) out.push({ id: 0, role: 'text', name: clip(text, 300) });
      text = '';
    };
    const inline = !svg && !shadow && !blockChildren(el);
    if (inline && !delegate && !anyActBelow(el)) {
      const t = clip(el.innerText, 300);
      if (t) out.push({ id: 0, role: 'text', name: t });
      return false;
    }
    for (const c of kids) {
      if (c.nodeType === 3) { text += c.data; continue; }
      if (c.nodeType !== 1) continue;
      flush();
      const before = out.length;
      const a = walk(c, out, frames, limit, cursor, delegate);
      act = act || a;
      // A child of a delegation container that rendered as plain text is
      // the target the container's listener serves.
      if (delegate && !a && out.length === before + 1 && out[before].role === 'text' && c.nodeType === 1) {
        out[before] = { id: bid(c), role: 'clickable', name: clip(out[before].name, 100) };
        act = true;
      }
    }
    flush();
    return act;
  }

  function hasElementKids(kids) {
    for (const c of kids) if (c.nodeType === 1) return true;
    return false;
  }

  // anyActBelow: a cheap test whether an inline run holds something to act
  // on, so plain formatted text becomes one line.
  function anyActBelow(el) {
    if (el.querySelector('a,button,input,select,textarea,[role],[onclick],[tabindex],[contenteditable],svg,canvas,iframe,slot')) return true;
    for (const c of el.querySelectorAll('*')) {
      if (listened.has(c) || shadowOf(c) || typeof c.onclick === 'function' || getComputedStyle(c).cursor === 'pointer') return true;
    }
    return false;
  }

  // walkFrame renders a frame: a same-origin document without our script
  // is walked from here; any other frame answers for itself after the walk.
  function walkFrame(f, out, frames, limit) {
    out.push({ id: 0, role: 'frame', name: nameOf(f, 'frame') });
    let doc = null, has = false;
    try { doc = f.contentDocument; has = !!(f.contentWindow && f.contentWindow.__egym); } catch (e) { doc = null; }
    if (doc && !has) {
      return doc.body ? walk(doc.body, out, frames, limit, '', false) : false;
    }
    frames.push({ f: f, at: out.length });
    return true;
  }

  // marks are [line index, element being walked when that line came]
  // during the top document's walk: where each line is, for the window.
  let marks = null;
  // pinned are [from, to, element] line ranges of fixed and sticky
  // elements (headers, bottom bars): on screen wherever the page is
  // scrolled, so the window keeps those in the viewport.
  let pinned = [], pinnedEls = new Set();
  // The window: a scrolled page longer than the limit is walked up to
  // WALK_CAP times the limit, and the observation is the limit's worth of
  // lines around what the viewport shows, so content further down is
  // reachable by scrolling; an unscrolled one shows its top.
  const WALK_CAP = 10;
  // outer is el's element in this document: a shadow tree's host, a
  // same-origin frame's frame element.
  function outer(el) {
    for (let i = 0; el && i < 64; i++) {
      const r = el.getRootNode && el.getRootNode();
      if (r && r.host) { el = r.host; continue; }
      if (el.ownerDocument && el.ownerDocument !== document) { const v = el.ownerDocument.defaultView; el = v && v.frameElement; continue; }
      return el;
    }
    return el;
  }
  // centerLine is the index of the first line at or after the element in
  // the middle of the viewport, in walk order.
  function centerLine(ms, total) {
    let c = null;
    for (const [fx, fy] of [[0.5, 0.5], [0.25, 0.5], [0.1, 0.5], [0.5, 0.3], [0.1, 0.3], [0.5, 0.7], [0.1, 0.7]]) {
      c = document.elementFromPoint(W.innerWidth * fx, W.innerHeight * fy);
      if (c && c !== document.body && c !== document.documentElement) break;
      c = null;
    }
    let lo = 0, hi = ms.length;
    if (!c) {
      // Only the page's background there (narrow content): the first line
      // whose element reaches below the viewport's middle.
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        const m = outer(ms[mid][1]);
        const r = m && m.getBoundingClientRect ? m.getBoundingClientRect() : null;
        if (r && r.bottom < W.innerHeight / 2) lo = mid + 1; else hi = mid;
      }
      return lo < ms.length ? ms[lo][0] : total;
    }
    while (lo < hi) { // the first mark not before c in document order
      const mid = (lo + hi) >> 1;
      const m = outer(ms[mid][1]);
      // An ancestor of c precedes it in document order (FOLLOWING is set
      // for a descendant too).
      const before = m && m !== c && (m.compareDocumentPosition(c) & Node.DOCUMENT_POSITION_FOLLOWING);
      if (before) lo = mid + 1; else hi = mid;
    }
    return lo < ms.length ? ms[lo][0] : total;
  }

  // observe renders the page (frames included) and assigns ids.
  async function observe(limit, nested) {
    jqSelectors();
    focusedEl = deepActive(document);
    const out = [], frames = [];
    // Unscrolled, the window is the page's top: one line past the limit
    // tells that more follows, without walking the rest.
    const cap = nested ? limit : W.scrollY > 0 ? limit * WALK_CAP : limit + 1;
    marks = nested ? null : [];
    pinned = [];
    pinnedEls = new Set();
    const ms = marks || [], pins = pinned;
    try {
      if (document.body) walk(document.body, out, frames, cap, '', false);
    } finally {
      marks = null;
    }
    if (frames.length) {
      const answers = await Promise.all(frames.map((fr) => callFrame(fr.f, 'observe', [Math.max(cap - out.length, 0), true])));
      // Splice the answers in from the last, so earlier positions hold.
      for (let i = frames.length - 1; i >= 0; i--) {
        const a = answers[i], f = frames[i].f, at = frames[i].at;
        const shift = (k) => {
          for (const m of ms) if (m[0] >= at) m[0] += k;
          for (const r of pins) { if (r[0] >= at) r[0] += k; if (r[1] >= at) r[1] += k; }
        };
        if (!a || !a.nodes) { out.splice(at, 0, { id: 0, role: 'text', name: '(frame content not available)' }); shift(1); continue; }
        let ox = 0, oy = 0;
        try { [ox, oy] = frameOrigin(f); const [dx, dy] = docOffset(f); ox += dx; oy += dy; } catch (e) { /* detached */ }
        const nodes = a.nodes.map((n) => {
          if (n.id) n.id = frameID(f, a.doc, n.id);
          if (n.box) n.box = [n.box[0] + Math.round(ox), n.box[1] + Math.round(oy), n.box[2], n.box[3]];
          return n;
        });
        out.splice(at, 0, ...nodes);
        shift(nodes.length);
      }
      if (out.length > cap) out.length = cap;
    }
    if (nested) return { doc: DOC, nodes: out };
    let state = null;
    try { state = W.__egState === undefined ? null : JSON.parse(JSON.stringify(W.__egState)); } catch (e) { state = null; }
    const total = out.length;
    const center = total > limit && W.scrollY > 0 ? centerLine(ms, total) : 0;
    const windowAt = (n) => (center ? Math.max(0, Math.min(center - Math.floor(n / 2), total - n)) : 0);
    const start = windowAt(limit);
    let nodes = out, above = 0, below = 0;
    if (total > limit) {
      // Pinned ranges outside the window that are on screen come along,
      // in page order; the window gives up as many lines at its far end.
      const keepAbove = [], keepBelow = [];
      let lastTo = -1;
      for (const [a, b, el] of pins) {
        if (a < lastTo || (a >= start && b <= start + limit)) continue; // nested, or inside the window
        const r = el.getBoundingClientRect();
        if (r.bottom <= 0 || r.top >= W.innerHeight || r.width === 0) continue;
        (a < start ? keepAbove : keepBelow).push([a, b]);
        lastTo = b;
      }
      const take = (rs, max) => { const o = []; for (const [a, b] of rs) for (let i = a; i < b && o.length < max; i++) o.push(out[i]); return o; };
      const top = take(keepAbove, Math.floor(limit / 8)), bottom = take(keepBelow, Math.floor(limit / 8));
      const room = limit - top.length - bottom.length;
      const from = windowAt(room);
      nodes = top.concat(out.slice(from, from + room), bottom);
      above = Math.max(0, from - top.length);
      below = Math.max(0, total - from - room - bottom.length);
    }
    return {
      url: location.href, title: document.title, nodes: nodes, state: state,
      truncated: total > limit || total >= cap, above: above, below: below, capped: total >= cap,
      scrollY: Math.round(W.scrollY), scrollMax: Math.max(0, Math.round(document.documentElement.scrollHeight - W.innerHeight)),
    };
  }

  // ---- actions. Every function taking an id runs where the element lives:
  // here, or in the child frame that owns it (route).
  function find(id) {
    const ref = els.get(id);
    const el = ref && ref.deref();
    if (!el || !el.isConnected) return [null, 'no element with id ' + id + ' on this page; use an id in [brackets] from the latest observation'];
    if (!visible(el)) return [null, 'element ' + id + ' is not visible now'];
    return [el, ''];
  }

  async function route(op, id, args) {
    const r = remote.get(id);
    if (!r) return local[op](id, ...args);
    const f = r.frame.deref();
    if (!f || !f.isConnected) return { error: 'element ' + id + ' was in a frame that is gone; observe again' };
    if (op === 'locate') {
      // Bring the frame into view first, then the element inside it.
      const pre = locateFrame(f);
      if (pre.error) return pre;
    }
    const res = await callFrame(f, op, [r.id, ...args]);
    if (res === null) return { error: 'the frame holding element ' + id + ' did not answer' };
    if (op === 'locate' && !res.error) return fromFrame(f, res, id);
    return res;
  }

  function locateFrame(f) {
    const r = f.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) return { error: 'its frame has no size on the page' };
    const v = visibleRect(f);
    if (!v || v.R - v.L < r.width * 0.5 || v.B - v.T < Math.min(r.height, W.innerHeight) * 0.5) f.scrollIntoView({ block: 'nearest', inline: 'nearest', behavior: 'instant' });
    return {};
  }

  // fromFrame turns a point in frame f's viewport into one in ours, and
  // checks the point is not hidden here (scrolled out, covered).
  function fromFrame(f, res, id) {
    const [ox, oy] = frameOrigin(f);
    const [dx, dy] = docOffset(f);
    let x = res.x + ox, y = res.y + oy;
    const v = visibleRect(f);
    if (!v || x < v.L || x >= v.R || y < v.T || y >= v.B) {
      f.scrollIntoView({ block: 'center', inline: 'center', behavior: 'instant' });
      const [ox2, oy2] = frameOrigin(f);
      x = res.x + ox2; y = res.y + oy2;
    }
    const hit = deepHit(f.ownerDocument, x, y);
    if (hit !== f) return { error: 'element ' + id + ' is inside a frame, and at its position the frame is covered by ' + describe(hit) };
    res.x = x + dx; res.y = y + dy;
    return res;
  }

  // visibleRect is the part of el's box inside all its scroll containers
  // and the viewport, or null when none is.
  function visibleRect(el) {
    const r = el.getBoundingClientRect();
    let L = r.left, T = r.top, R = r.right, B = r.bottom;
    for (let p = layoutParent(el); p && p.nodeType === 1; p = layoutParent(p)) {
      if (p === el.ownerDocument.documentElement || p === el.ownerDocument.body) continue;
      const cs = getComputedStyle(p);
      if (cs.overflowX === 'visible' && cs.overflowY === 'visible') continue;
      const q = p.getBoundingClientRect();
      L = Math.max(L, q.left + p.clientLeft); T = Math.max(T, q.top + p.clientTop);
      R = Math.min(R, q.left + p.clientLeft + p.clientWidth); B = Math.min(B, q.top + p.clientTop + p.clientHeight);
    }
    const v = el.ownerDocument.defaultView;
    L = Math.max(L, 0); T = Math.max(T, 0); R = Math.min(R, v.innerWidth); B = Math.min(B, v.innerHeight);
    return R - L >= 1 && B - T >= 1 ? { L, T, R, B } : null;
  }

  function layoutParent(el) {
    if (el.assignedSlot) return el.assignedSlot;
    if (el.parentElement) return el.parentElement;
    const p = el.parentNode;
    return p && p.host ? p.host : null;
  }

  // deepHit is the element at a point, looking into shadow roots.
  function deepHit(doc, x, y) {
    let h = doc.elementFromPoint(x, y);
    while (h) {
      const sr = shadowOf(h);
      if (!sr) break;
      const d = sr.elementFromPoint(x, y);
      if (!d || d === h) break;
      h = d;
    }
    return h;
  }

  function within(el, hit) {
    for (let p = hit; p; p = layoutParent(p)) if (p === el) return true;
    return false;
  }

  function describe(hit) {
    if (!hit) return 'nothing (outside the page)';
    const b = ids.get(hit);
    let s = hit.tagName.toLowerCase();
    const t = clip(textOf(hit), 40);
    if (t) s += ' "' + t + '"';
    if (b) s += ' [' + b + ']';
    else if (hit === document.body || hit === document.documentElement) s += ' (the page background)';
    return s;
  }

  // hitOK: a click at the point reaches el (or its label).
  function hitOK(el, hit) {
    if (!hit) return false;
    if (within(el, hit)) return true;
    if (el.labels && Array.from(el.labels).some((l) => l.contains(hit))) return true;
    return false;
  }

  // pointIn finds a point of el that a click would reach: the centre of its
  // visible part, else the centre of each of its boxes (wrapped inline text).
  function pointIn(el) {
    const v = visibleRect(el);
    if (!v) return null;
    const doc = el.ownerDocument;
    const cand = [[(v.L + v.R) / 2, (v.T + v.B) / 2]];
    for (const r of el.getClientRects()) {
      const x = (Math.max(r.left, v.L) + Math.min(r.right, v.R)) / 2, y = (Math.max(r.top, v.T) + Math.min(r.bottom, v.B)) / 2;
      if (x > v.L && x < v.R && y > v.T && y < v.B) cand.push([x, y]);
    }
    let first = null;
    for (const [x, y] of cand) {
      const hit = deepHit(doc, x, y);
      if (hitOK(el, hit)) return { x, y, hit };
      if (!first) first = { x, y, hit, miss: true };
    }
    return first;
  }

  const local = {
    // locate scrolls el into view within its scroll containers and returns
    // a point where a click reaches it, in this window's viewport.
    locate(id) {
      const [el, err] = find(id);
      if (!el) return { error: err };
      if (el.disabled || el.getAttribute('aria-disabled') === 'true') return { error: 'element ' + id + ' is disabled' };
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) return { error: 'element ' + id + ' has no size on the page' };
      let p = pointIn(el);
      if (!p || p.miss) {
        el.scrollIntoView({ block: 'center', inline: 'center', behavior: 'instant' });
        p = pointIn(el);
      }
      if (!p) return { error: 'element ' + id + ' cannot be scrolled into view' };
      if (p.miss) return { error: 'element ' + id + ' is not reachable at its position: a click there would hit ' + describe(p.hit) };
      const [ox, oy] = docOffset(el);
      return { x: p.x + ox, y: p.y + oy, tag: el.tagName, role: role(el), checked: !!el.checked, type: el.tagName === 'INPUT' ? inputType(el) : '' };
    },

    focus(id) {
      const [el, err] = find(id);
      if (!el) return err;
      el.focus({ preventScroll: false });
      inputSeen();
      return '';
    },

    // prepFill gets a field ready for new text: {insert: true} when the
    // caller should type it, {set: true} when it was set by value (date,
    // colour, range…), {error} when it cannot apply.
    prepFill(id, text) {
      const [el, err] = find(id);
      if (!el) return { error: err };
      const r = role(el);
      if (r !== 'textbox' && r !== 'searchbox' && r !== 'combobox' && r !== 'slider' && r !== 'spinbutton') return { error: 'element ' + id + ' is a ' + (r || el.tagName.toLowerCase()) + ', not a text field; fill works on textbox ids' };
      if (el.tagName === 'SELECT') return { error: 'element ' + id + ' is a drop-down; use select_option(' + id + ', "option")' };
      if (el.disabled || el.readOnly) return { error: 'element ' + id + ' is disabled or read-only' };
      el.scrollIntoView({ block: 'nearest', behavior: 'instant' });
      el.focus();
      inputSeen();
      const ty = el.tagName === 'INPUT' ? inputType(el) : '';
      if (VALUE_TYPES[ty]) return setByValue(el, id, ty, text);
      if (ty === 'number' && text !== '' && !/^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(text)) return { error: 'element ' + id + ' is a number field; fill it with a number such as "42" or "3.5"' };
      if (el.isContentEditable) {
        // Select its content, so the typed text (trusted input events,
        // as editors expect) replaces it.
        const s = el.ownerDocument.getSelection();
        s.selectAllChildren(el);
        if (text === '') el.ownerDocument.execCommand('delete');
        return { insert: true };
      }
      const proto = el.tagName === 'TEXTAREA' ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
      Object.getOwnPropertyDescriptor(proto, 'value').set.call(el, '');
      el.dispatchEvent(new Event('input', { bubbles: true }));
      return { insert: true };
    },

    changed(id) {
      const [el] = find(id);
      if (el && !el.isContentEditable) el.dispatchEvent(new Event('change', { bubbles: true }));
      return '';
    },

    selectOption(id, labels) {
      const [el, err] = find(id);
      if (!el) return err;
      if (el.tagName !== 'SELECT') return 'element ' + id + ' is not a drop-down (select); use click or fill';
      if (el.disabled) return 'element ' + id + ' is disabled';
      if (labels.length > 1 && !el.multiple) return 'drop-down ' + id + ' takes one option, got ' + labels.length;
      const opts = Array.from(el.options);
      const idx = [];
      for (const label of labels) {
        const want = clip(label, 1000).toLowerCase();
        let i = opts.findIndex((o) => clip(o.text, 1000).toLowerCase() === want);
        if (i < 0) i = opts.findIndex((o) => o.value.toLowerCase() === want);
        if (i < 0) return 'drop-down ' + id + ' has no option "' + clip(label, 60) + '"; options: ' + JSON.stringify(opts.map((o) => clip(o.text, 60)));
        if (opts[i].disabled) return 'option "' + clip(label, 60) + '" of drop-down ' + id + ' is disabled';
        idx.push(i);
      }
      el.focus();
      inputSeen();
      if (el.multiple) opts.forEach((o, i) => { o.selected = idx.includes(i); });
      else el.selectedIndex = idx[0];
      el.dispatchEvent(new Event('input', { bubbles: true }));
      el.dispatchEvent(new Event('change', { bubbles: true }));
      return '';
    },

    // fileInput checks id is a file input and marks it for the upload,
    // which the Go side finds with element().
    fileInput(id, n) {
      const [el, err] = find(id);
      if (!el) return err;
      if (el.tagName !== 'INPUT' || inputType(el) !== 'file') return 'element ' + id + ' is not a file input; upload works on a file button';
      if (el.disabled) return 'element ' + id + ' is disabled';
      if (n > 1 && !el.multiple) return 'file input ' + id + ' takes one file, got ' + n;
      return '';
    },
  };

  // element returns the element of id for the Go side (file uploads), when
  // it lives in this document or a same-origin frame below it.
  function element(id) {
    const r = remote.get(id);
    if (!r) { const [el] = find(id); return el; }
    const f = r.frame.deref();
    try { return f.contentWindow.__egym.element(r.id); } catch (e) { return null; }
  }

  // hopFrame and hopID name the frame element holding id and id's number
  // in that frame, when id lives in a frame below this document: the Go
  // side goes on in that frame's own context where element() cannot
  // reach (a cross-origin frame).
  function hopFrame(id) { const r = remote.get(id); return r ? r.frame.deref() || null : null; }
  function hopID(id) { const r = remote.get(id); return r ? r.id : 0; }
  // adoptRoot records a closed shadow root the Go side found through the
  // protocol (declarative ones: the parser attaches them without
  // attachShadow).
  function adoptRoot(host, root) {
    if (host instanceof Element && root instanceof ShadowRoot && root.host === host && !host.shadowRoot) closedRoots.set(host, root);
    return true;
  }

  function scroll(dir) {
    inputSeen();
    outside();
    W.scrollBy({ top: (dir === 'up' ? -0.8 : 0.8) * W.innerHeight, behavior: 'instant' });
    return '';
  }

  // cssLeft is how long finite CSS animations and transitions still run.
  function cssLeft() {
    if (!document.getAnimations) return 0;
    let left = 0;
    for (const a of document.getAnimations()) {
      if (a.playState !== 'running' || !a.effect) continue;
      const t = a.effect.getComputedTiming();
      if (!isFinite(t.endTime) || t.localTime === null) continue;
      left = Math.max(left, (t.endTime - t.localTime) / (a.playbackRate || 1));
    }
    return left;
  }

  // settle resolves once the document is complete, no fetch/XHR (bodies
  // included) or short timer is pending, no animation is running and the
  // DOM has been quiet for `quiet` ms since the last change or input: 'ok',
  // 'timeout' after `max` ms, or 'nav' when the document is being left.
  // Child frames then settle in the time left. It is woken by the events
  // that end pending work and by one timer for the rest of the wait; no
  // polling. With limit >= 0 the observation is taken right after. With
  // after > 0 the DOM must also stay quiet for `after` ms from the call
  // (the Go side saw a script arrive that runs in a later task).
  function settle(quiet, max, limit, after) {
    const t0 = now();
    const from = after > 0 ? t0 : -Infinity;
    if (after > quiet) quiet = after;
    return new Promise((resolve) => {
      let timer = 0;
      const finish = (s) => {
        waiters.delete(check);
        if (timer) oClearTimeout(timer);
        timer = 0;
        resolve(s);
      };
      const check = () => {
        if (timer) oClearTimeout(timer);
        timer = 0;
        if (unloading) return finish('nav');
        const t = now();
        let wait = max - (t - t0);
        if (wait <= 0) return finish('timeout');
        // Work that counts only for a while wakes the wait when it stops
        // counting; the rest ends with an event that pokes it.
        const hold = Math.max(bgLeft(t), animLeft(t), frameLeft(t), timerLeft(t));
        if (hold > 0) wait = Math.min(wait, hold);
        else if (document.readyState === 'complete') {
          let q = quiet - (t - Math.max(lastMut, lastInput, from));
          if (t - lastAnim < ANIM_QUIET && t - animStart < ANIM_MAX) q = Math.max(q, ANIM_QUIET - (t - lastAnim));
          if (q <= 0) {
            const css = Math.min(cssLeft(), 1000);
            if (css <= 0) return finish('ok');
            q = css;
          }
          wait = Math.min(wait, q);
        }
        timer = oSetTimeout(check, Math.ceil(wait));
      };
      waiters.add(check);
      check();
    }).then(async (s) => {
      if (s === 'ok' && !unloading) {
        const fs = document.querySelectorAll('iframe,frame');
        if (fs.length) {
          const left = Math.max(max - (now() - t0), 1);
          const rs = await Promise.all(Array.from(fs).map((f) => callFrame(f, 'settle', [quiet, left, -1], left + 200)));
          for (const r of rs) {
            if (r && typeof r.clip === 'string') clipOut = r.clip;
            if (r && r.dl) downloadClicked = true;
          }
        }
      }
      if (limit >= 0 && s !== 'nav' && !unloading) {
        try { return { s: s, page: await observe(limit), dl: takeDownloadClick(), clip: takeClip() }; } catch (e) { /* observe separately */ }
      }
      return { s: s, dl: takeDownloadClick(), clip: takeClip() };
    });
  }

  // rpc is what a parent frame calls (directly or by message).
  function rpc(op, args) {
    switch (op) {
      case 'observe': return observe(args[0], true);
      case 'settle': return settle(args[0], args[1], -1);
      case 'clip': return clipboardOp(args[0], args[1]);
      case 'locate': case 'focus': case 'prepFill': case 'changed': case 'selectOption': case 'fileInput':
        return route(op, args[0], args.slice(1));
    }
    return { error: 'unknown op ' + op };
  }

  const api = {
    observe: (limit) => observe(limit, false),
    settle,
    locate: (id) => route('locate', id, []),
    focus: (id) => route('focus', id, []),
    prepFill: (id, text) => route('prepFill', id, [text]),
    changed: (id) => route('changed', id, []),
    selectOption: (id, labels) => route('selectOption', id, [labels]),
    fileInput: (id, n) => route('fileInput', id, [n]),
    element,
    hopFrame,
    hopID,
    adoptRoot,
    scroll,
    rpc,
    leave: () => { unload(); return true; },
    clip: clipboardOp,
    // The navigation the page started turned into a download: it stays.
    stay: () => { unloading = false; lastMut = now(); poke(); return true; },
  };
  function setByValue(el, id, ty, text) {
    const [fmt, ex, re] = VALUE_TYPES[ty];
    const proto = HTMLInputElement.prototype;
    const before = el.value;
    const wellFormed = text === '' ? ty !== 'range' && ty !== 'color' : re.test(text);
    Object.getOwnPropertyDescriptor(proto, 'value').set.call(el, wellFormed ? text : before);
    // The browser refuses impossible values (2024-02-31) by emptying the
    // field, and rounds a range's value to its steps.
    let bad = !wellFormed || text !== '' && el.value === '';
    if (ty === 'range' && wellFormed) bad = Math.abs(parseFloat(el.value) - parseFloat(text)) > 1e-9;
    if (bad) {
      const got = el.value;
      Object.getOwnPropertyDescriptor(proto, 'value').set.call(el, before);
      if (ty === 'range') return { error: 'slider ' + id + ' takes a number from ' + (el.min || 0) + ' to ' + (el.max || 100) + (el.step && el.step !== 'any' ? ' in steps of ' + el.step : '') + '; "' + clip(text, 40) + '" would become ' + got };
      return { error: 'element ' + id + ' is a ' + ty + ' field; fill it in the format ' + fmt + (ex ? ' (' + ex + ')' : '') + ', got "' + clip(text, 40) + '"' };
    }
    el.dispatchEvent(new Event('input', { bubbles: true }));
    el.dispatchEvent(new Event('change', { bubbles: true }));
    return { set: true };
  }
  // Element.focus in a frame focuses the frame too, so typed text and keys
  // reach the element whatever frame it lives in.
  Object.defineProperty(W, '__egym', { value: Object.freeze(api), enumerable: false });
})();
