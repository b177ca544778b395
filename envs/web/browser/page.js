// Injected into every document before its own scripts (Page.addScriptToEvaluateOnNewDocument).
// It tracks DOM mutations and pending requests (for the settle wait), assigns
// stable element ids (data-bid, BrowserGym's idea) and renders the page as an
// accessibility-tree-like list.
(() => {
  if (window.__egym) return;
  const W = window;
  let pending = 0;
  let lastMut = performance.now();
  let lastInput = 0; // last input event (real or dispatched by an action)
  let unloading = false;
  let next = 1;
  // Settle waiters re-check when pending work ends, instead of polling.
  const waiters = new Set();
  const oSetTimeout = W.setTimeout.bind(W), oClearTimeout = W.clearTimeout.bind(W);
  // poke re-checks in a task of its own, so the page's handlers of the same
  // event (load handlers, fetch continuations) have run first.
  let poked = false;
  const poke = () => {
    if (poked || !waiters.size) return;
    poked = true;
    oSetTimeout(() => { poked = false; for (const w of Array.from(waiters)) w(); }, 0);
  };
  const ofetch = W.fetch;
  if (ofetch) {
    W.fetch = function (...a) {
      pending++;
      return ofetch.apply(this, a).finally(() => { pending--; poke(); });
    };
  }
  const osend = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (...a) {
    pending++;
    this.addEventListener('loadend', () => { pending--; poke(); }, { once: true });
    return osend.apply(this, a);
  };
  // Short timers count as pending work: a click handler that updates the
  // page after setTimeout(…, 50) is not settled until the timer ran.
  const timers = new Set();
  W.setTimeout = function (fn, ms, ...a) {
    if (typeof fn !== 'function' || !(ms <= 300)) return oSetTimeout(fn, ms, ...a);
    const id = oSetTimeout(() => { timers.delete(id); try { fn(...a); } finally { poke(); } }, ms);
    timers.add(id);
    return id;
  };
  W.clearTimeout = function (id) { if (timers.delete(id)) poke(); return oClearTimeout(id); };
  // beforeunload fires when a navigation of this document starts, before the
  // request goes out: the settle wait must then wait for the next document.
  const unload = () => { unloading = true; for (const w of Array.from(waiters)) w(); };
  W.addEventListener('beforeunload', unload);
  W.addEventListener('pagehide', unload);
  W.addEventListener('pageshow', () => { unloading = false; lastMut = performance.now(); poke(); });
  document.addEventListener('readystatechange', poke);
  W.addEventListener('load', poke);
  // The quiet period runs from the later of the last DOM change and the
  // last input, so work an action starts is waited for even when it has
  // not touched the DOM yet.
  const inputSeen = () => { lastInput = performance.now(); };
  for (const ev of ['mousemove', 'mousedown', 'mouseup', 'click', 'keydown', 'keyup', 'input', 'change', 'wheel', 'scroll']) {
    W.addEventListener(ev, inputSeen, { capture: true, passive: true });
  }
  new MutationObserver(() => { lastMut = performance.now(); })
    .observe(document, { subtree: true, childList: true, attributes: true, characterData: true });

  const SKIP = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'HEAD', 'META', 'LINK', 'TITLE', 'svg', 'SVG', 'IFRAME']);
  const TEXTY = new Set(['', 'text', 'email', 'password', 'search', 'tel', 'url', 'number', 'date', 'time', 'datetime-local', 'month', 'week']);
  const LEAF_ROLES = new Set(['button', 'link', 'checkbox', 'radio', 'textbox', 'combobox', 'menuitem', 'tab', 'option', 'switch', 'gridcell', 'treeitem', 'searchbox', 'slider', 'img']);
  const INTERACTIVE = 'a[href],button,input,select,textarea,[role],[onclick],[tabindex],[contenteditable]';
  const clip = (s, n) => { s = (s || '').replace(/\s+/g, ' ').trim(); return s.length > n ? s.slice(0, n - 1) + '…' : s; };

  function role(el) {
    const r = el.getAttribute('role');
    if (r) return r;
    const t = el.tagName;
    switch (t) {
      case 'A': return el.hasAttribute('href') ? 'link' : '';
      case 'BUTTON': return 'button';
      case 'SELECT': return 'combobox';
      case 'TEXTAREA': return 'textbox';
      case 'IMG': return el.alt ? 'img' : '';
      case 'H1': case 'H2': case 'H3': case 'H4': case 'H5': case 'H6': return 'heading';
      case 'INPUT': {
        const ty = (el.getAttribute('type') || '').toLowerCase();
        if (ty === 'hidden') return 'hidden';
        if (ty === 'checkbox' || ty === 'radio') return ty;
        if (ty === 'button' || ty === 'submit' || ty === 'reset' || ty === 'image') return 'button';
        if (TEXTY.has(ty)) return 'textbox';
        return 'textbox';
      }
    }
    if (el.isContentEditable && el.getAttribute('contenteditable') !== null) return 'textbox';
    if (el.onclick || el.hasAttribute('onclick')) return 'clickable';
    if (el.hasAttribute('data-clickable')) return 'clickable';
    if (el.hasAttribute('tabindex') && el.tabIndex >= 0) return 'clickable';
    return '';
  }

  // labelText is a label's own text, without the text of the controls it wraps.
  function labelText(l) {
    let s = '';
    for (const c of l.childNodes) {
      if (c.nodeType === 3) s += c.data;
      else if (c.nodeType === 1 && !/^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(c.tagName)) s += ' ' + c.innerText;
    }
    return s;
  }

  function labelOf(el) {
    const al = el.getAttribute('aria-label');
    if (al) return al;
    const lb = el.getAttribute('aria-labelledby');
    if (lb) {
      const s = lb.split(/\s+/).map(id => document.getElementById(id)).filter(Boolean).map(e => e.innerText).join(' ');
      if (s.trim()) return s;
    }
    if (el.labels && el.labels.length) return Array.from(el.labels).map(labelText).join(' ');
    return '';
  }

  function nameOf(el, r) {
    let n = labelOf(el);
    if (!n) {
      if (r === 'textbox' || r === 'combobox' || r === 'searchbox') n = el.getAttribute('placeholder') || el.getAttribute('name') || el.title || '';
      else if (el.tagName === 'INPUT') n = el.value || el.getAttribute('alt') || el.title || '';
      else if (el.tagName === 'IMG') n = el.alt;
      else n = el.innerText || el.title || el.getAttribute('alt') || '';
    }
    return clip(n, 100);
  }

  function visible(el) {
    if (el.checkVisibility && !el.checkVisibility({ visibilityProperty: true })) return false;
    return true;
  }

  function bid(el) {
    let b = el.getAttribute('data-bid');
    if (!b) { b = String(next++); el.setAttribute('data-bid', b); }
    return +b;
  }

  function blockChildren(el) {
    for (const c of el.children) {
      const d = getComputedStyle(c).display;
      if (d !== 'inline' && d !== 'inline-block' && d !== 'contents' && d !== 'none') return true;
    }
    return false;
  }

  function observe(limit) {
    const out = [];
    const walk = (el) => {
      if (out.length >= limit) return;
      if (SKIP.has(el.tagName) || el.getAttribute('aria-hidden') === 'true' || !visible(el)) return;
      const r = role(el);
      if (r === 'hidden') return;
      if (LEAF_ROLES.has(r) || (r === 'clickable' && !el.querySelector(INTERACTIVE))) {
        const n = { id: bid(el), role: r === 'searchbox' ? 'textbox' : r, name: nameOf(el, r) };
        if (r === 'textbox' || r === 'searchbox') n.value = clip(el.isContentEditable ? el.innerText : el.value, 200);
        if (r === 'checkbox' || r === 'radio' || r === 'switch') n.checked = el.tagName === 'INPUT' ? el.checked : el.getAttribute('aria-checked') === 'true';
        if (r === 'combobox' && el.tagName === 'SELECT') {
          n.options = Array.from(el.options).map(o => clip(o.text, 60));
          n.value = el.selectedIndex >= 0 ? clip(el.options[el.selectedIndex].text, 60) : '';
        }
        if (el.disabled || el.getAttribute('aria-disabled') === 'true') n.disabled = true;
        if ((r === 'textbox' || r === 'searchbox') && el.readOnly) n.readonly = true;
        if (el.getAttribute('aria-selected') === 'true' || el.getAttribute('aria-current')) n.selected = true;
        if (el.hasAttribute('aria-expanded')) n.expanded = el.getAttribute('aria-expanded') === 'true';
        if (document.activeElement === el && r !== 'link' && r !== 'button') n.focused = true;
        out.push(n);
        return;
      }
      if (r === 'heading') { const t = clip(el.innerText, 160); if (t) out.push({ id: 0, role: 'heading', name: t }); return; }
      if (el.tagName === 'TR' && !el.querySelector(INTERACTIVE)) {
        const cells = Array.from(el.cells).map(c => clip(c.innerText, 60));
        if (cells.some(Boolean)) out.push({ id: 0, role: 'row', name: cells.join(' | ') });
        return;
      }
      if (!el.querySelector(INTERACTIVE) && !blockChildren(el)) {
        const t = clip(el.innerText, 300);
        if (t) out.push({ id: 0, role: 'text', name: t });
        return;
      }
      // A label's text already names its control.
      const quietText = el.tagName === 'LABEL' && el.control;
      let text = '';
      for (const c of el.childNodes) {
        if (c.nodeType === 3) { text += c.data; continue; }
        if (c.nodeType !== 1) continue;
        if (text.trim() && !quietText) { out.push({ id: 0, role: 'text', name: clip(text, 300) }); }
        text = '';
        walk(c);
      }
      if (text.trim() && !quietText) out.push({ id: 0, role: 'text', name: clip(text, 300) });
    };
    if (document.body) walk(document.body);
    let state = null;
    try { state = W.__egState === undefined ? null : JSON.parse(JSON.stringify(W.__egState)); } catch (e) { state = null; }
    return { url: location.href, title: document.title, nodes: out, truncated: out.length >= limit, state: state, scrollY: Math.round(W.scrollY), scrollMax: Math.max(0, Math.round(document.documentElement.scrollHeight - W.innerHeight)) };
  }

  function find(id) {
    const el = document.querySelector('[data-bid="' + id + '"]');
    if (!el) return [null, 'no element with id ' + id + ' on this page; use an id in [brackets] from the latest observation'];
    if (!visible(el)) return [null, 'element ' + id + ' is not visible now'];
    return [el, ''];
  }

  // locate scrolls the element into view and returns where to click it.
  function locate(id) {
    const [el, err] = find(id);
    if (!el) return { error: err };
    if (el.disabled || el.getAttribute('aria-disabled') === 'true') return { error: 'element ' + id + ' is disabled' };
    let r = el.getBoundingClientRect();
    if (r.top < 0 || r.left < 0 || r.bottom > W.innerHeight || r.right > W.innerWidth) {
      el.scrollIntoView({ block: 'center', inline: 'center', behavior: 'instant' });
      r = el.getBoundingClientRect();
    }
    if (r.width === 0 || r.height === 0) return { error: 'element ' + id + ' has no size on the page' };
    const x = r.left + r.width / 2, y = r.top + r.height / 2;
    const hit = document.elementFromPoint(x, y);
    if (hit && hit !== el && !el.contains(hit) && !hit.contains(el) && !(el.labels && Array.from(el.labels).some(l => l.contains(hit)))) {
      return { error: 'element ' + id + ' is covered by another element (' + hit.tagName.toLowerCase() + ' "' + clip(hit.innerText, 40) + '")' };
    }
    return { x: x, y: y, tag: el.tagName, role: role(el), checked: !!el.checked };
  }

  function prepFill(id) {
    const [el, err] = find(id);
    if (!el) return err;
    const r = role(el);
    if (r !== 'textbox' && r !== 'searchbox' && r !== 'combobox') return 'element ' + id + ' is a ' + (r || el.tagName.toLowerCase()) + ', not a text field; fill works on textbox ids';
    if (el.tagName === 'SELECT') return 'element ' + id + ' is a drop-down; use select(' + id + ', "option")';
    if (el.disabled || el.readOnly) return 'element ' + id + ' is disabled or read-only';
    el.scrollIntoView({ block: 'center', behavior: 'instant' });
    el.focus();
    if (el.isContentEditable) { el.innerText = ''; }
    else {
      const proto = el.tagName === 'TEXTAREA' ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
      Object.getOwnPropertyDescriptor(proto, 'value').set.call(el, '');
      el.dispatchEvent(new Event('input', { bubbles: true }));
    }
    return '';
  }

  function changed(id) {
    const [el] = find(id);
    if (el) el.dispatchEvent(new Event('change', { bubbles: true }));
    return '';
  }

  function selectOption(id, label) {
    const [el, err] = find(id);
    if (!el) return err;
    if (el.tagName !== 'SELECT') return 'element ' + id + ' is not a drop-down (select); use click or fill';
    if (el.disabled) return 'element ' + id + ' is disabled';
    const want = clip(label, 1000).toLowerCase();
    const opts = Array.from(el.options);
    let i = opts.findIndex(o => clip(o.text, 1000).toLowerCase() === want);
    if (i < 0) i = opts.findIndex(o => o.value.toLowerCase() === want);
    if (i < 0) return 'drop-down ' + id + ' has no option "' + clip(label, 60) + '"; options: ' + JSON.stringify(opts.map(o => clip(o.text, 60)));
    el.focus();
    el.selectedIndex = i;
    el.dispatchEvent(new Event('input', { bubbles: true }));
    el.dispatchEvent(new Event('change', { bubbles: true }));
    return '';
  }

  function scroll(dir) {
    lastInput = performance.now();
    W.scrollBy({ top: (dir === 'up' ? -0.8 : 0.8) * W.innerHeight, behavior: 'instant' });
    return '';
  }

  // settle resolves once the document is complete, no fetch/XHR or short
  // timer is pending and the DOM has been quiet for `quiet` ms since the
  // last change or input: 'ok', 'timeout' after `max` ms, or 'nav' when the
  // document is being left. It is woken by the events that end pending
  // work and by one timer for the rest of the quiet period; no polling.
  // With limit >= 0 the observation is taken in the same task.
  function settle(quiet, max, limit) {
    return new Promise((resolve) => {
      const t0 = performance.now();
      let timer = 0;
      const finish = (s) => {
        waiters.delete(check);
        if (timer) oClearTimeout(timer);
        timer = 0;
        if (limit >= 0 && s !== 'nav') {
          try { return resolve({ s: s, page: observe(limit) }); } catch (e) { /* observe below */ }
        }
        resolve({ s: s });
      };
      const check = () => {
        if (timer) oClearTimeout(timer);
        timer = 0;
        if (unloading) return finish('nav');
        const now = performance.now();
        let wait = max - (now - t0);
        if (wait <= 0) return finish('timeout');
        if (document.readyState === 'complete' && pending <= 0 && timers.size === 0) {
          const q = quiet - (now - Math.max(lastMut, lastInput));
          if (q <= 0) return finish('ok');
          wait = Math.min(wait, q);
        }
        timer = oSetTimeout(check, Math.ceil(wait));
      };
      waiters.add(check);
      check();
    });
  }

  Object.defineProperty(W, '__egym', {
    value: Object.freeze({ observe, locate, prepFill, changed, selectOption, scroll, settle, leave: () => { unload(); return true; } }),
    enumerable: false,
  });
})();
