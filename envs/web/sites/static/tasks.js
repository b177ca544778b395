// Task renderers: EG.tasks[name](T, area) draws window.TASK into area.
// The generator, the checker and the oracle of each task live in Go
// (sites/tasks.go); a page only draws and reports what the user did.
const h = EG.h;
const T = EG.tasks;

T['click-button'] = (d, a) => {
  a.append(...d.buttons.map(b => h('button', { onclick: () => EG.done({ clicked: b }) }, b)));
};

T['click-link'] = (d, a) => {
  a.append(...d.words.map(w => d.links.includes(w)
    ? h('span', {}, h('a', { href: '#', onclick: (e) => { e.preventDefault(); EG.done({ clicked: w }); } }, w), ' ')
    : w + ' '));
};

T['enter-text'] = (d, a) => {
  const i = h('input', { type: 'text', id: 'tt', 'aria-label': 'Text' });
  a.append(i, EG.submit(() => ({ value: i.value })));
};

T['login-user'] = (d, a) => {
  const u = h('input', { type: 'text', id: 'username' }), p = h('input', { type: 'password', id: 'password' });
  a.append(h('label', {}, 'Username ', u), h('br'), h('label', {}, 'Password ', p), h('br'),
    h('button', { onclick: () => EG.done({ username: u.value, password: p.value }) }, 'Login'));
};

T['enter-password'] = (d, a) => {
  const p = h('input', { type: 'password', id: 'p1' }), v = h('input', { type: 'password', id: 'p2' });
  a.append(h('label', {}, 'Password ', p), h('br'), h('label', {}, 'Verify password ', v), h('br'),
    EG.submit(() => ({ password: p.value, verify: v.value })));
};

T['click-checkboxes'] = (d, a) => {
  const boxes = d.items.map(w => h('input', { type: 'checkbox', value: w }));
  a.append(...boxes.map((b, i) => h('div', {}, h('label', {}, b, ' ' + d.items[i]))),
    EG.submit(() => ({ checked: boxes.filter(b => b.checked).map(b => b.value) })));
};

T['click-option'] = (d, a) => {
  const rs = d.items.map(w => h('input', { type: 'radio', name: 'opt', value: w }));
  a.append(...rs.map((r, i) => h('div', {}, h('label', {}, r, ' ' + d.items[i]))),
    EG.submit(() => ({ value: (rs.find(r => r.checked) || { value: '' }).value })));
};

T['choose-list'] = (d, a) => {
  const s = h('select', { 'aria-label': 'Choose' }, ...d.items.map(w => h('option', { value: w }, w)));
  a.append(s, EG.submit(() => ({ value: s.value })));
};

T['form-fill'] = (d, a) => {
  const f = {};
  const row = (label, el) => { f[label] = el; return h('div', {}, h('label', {}, label + ' ', el)); };
  a.append(row('First name', h('input', { type: 'text' })), row('Last name', h('input', { type: 'text' })),
    row('Email', h('input', { type: 'email' })),
    row('Country', h('select', {}, ...d.countries.map(c => h('option', {}, c)))),
    row('I agree to the terms', h('input', { type: 'checkbox' })),
    EG.submit(() => ({ first: f['First name'].value, last: f['Last name'].value, email: f['Email'].value, country: f['Country'].value, agree: f['I agree to the terms'].checked })));
};

T['copy-text'] = (d, a) => {
  const i = h('input', { type: 'text', 'aria-label': 'Answer' });
  a.append(h('p', { text: d.text }), i, EG.submit(() => ({ value: i.value })));
};

T['press-enter'] = (d, a) => {
  const i = h('input', { type: 'search', 'aria-label': 'Search', onkeydown: (e) => { if (e.key === 'Enter') EG.done({ value: i.value }); } });
  a.append(i, h('p', { text: 'Results appear after you press Enter.' }));
};

T['choose-date'] = (d, a) => {
  const M = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
  let y = d.year, m = d.month, picked = '';
  const out = h('input', { type: 'text', readonly: true, 'aria-label': 'Date', value: '' });
  const cal = h('div', { class: 'cal' });
  const pad = (n) => String(n).padStart(2, '0');
  const draw = () => {
    const days = new Date(y, m + 1, 0).getDate();
    const grid = [];
    for (let i = 1; i <= days; i++) grid.push(h('button', { onclick: () => { picked = pad(m + 1) + '/' + pad(i) + '/' + y; out.value = picked; } }, String(i)));
    cal.replaceChildren(h('div', {}, h('button', { onclick: () => { m--; if (m < 0) { m = 11; y--; } draw(); } }, 'Prev'),
      h('b', { text: ' ' + M[m] + ' ' + y + ' ' }), h('button', { onclick: () => { m++; if (m > 11) { m = 0; y++; } draw(); } }, 'Next')), h('div', {}, grid));
  };
  draw();
  a.append(out, cal, EG.submit(() => ({ date: out.value })));
};

T['search-engine'] = (d, a) => {
  const q = h('input', { type: 'text', 'aria-label': 'Search query' });
  const res = h('div', {});
  let page = 0, query = '';
  const draw = () => {
    const per = 3, n = Math.ceil(d.results.length / per);
    const items = d.results.slice(page * per, page * per + per).map(r => h('div', {},
      h('a', { href: '#', onclick: (e) => { e.preventDefault(); EG.done({ query: query, clicked: r.title }); } }, r.title),
      h('div', { text: r.url })));
    const nav = [];
    for (let i = 0; i < n; i++) nav.push(i === page ? h('b', { text: ' ' + (i + 1) + ' ' }) : h('a', { href: '#', onclick: (e) => { e.preventDefault(); page = i; draw(); } }, 'Page ' + (i + 1)));
    res.replaceChildren(...items, h('div', {}, nav));
  };
  a.append(q, h('button', { onclick: () => { query = q.value; page = 0; draw(); } }, 'Search'), res);
};

T['email-inbox-forward'] = (d, a) => {
  const inbox = () => a.replaceChildren(h('h3', { text: 'Inbox' }), ...d.emails.map((m, i) => h('div', {
    role: 'button', tabindex: 0, 'aria-label': 'Email from ' + m.from + ': ' + m.subject, onclick: () => open(i)
  }, h('b', { text: m.from }), ' ' + m.subject)));
  const open = (i) => {
    const m = d.emails[i];
    a.replaceChildren(h('h3', { text: m.subject }), h('p', { text: 'From: ' + m.from }), h('p', { text: m.body }),
      h('button', { onclick: inbox }, 'Back'), h('button', { onclick: () => reply(i) }, 'Reply'), h('button', { onclick: () => fwd(i) }, 'Forward'),
      h('button', { onclick: () => EG.done({ action: 'delete', from: m.from }) }, 'Delete'));
  };
  const reply = (i) => { const b = h('textarea', { 'aria-label': 'Message' }); a.replaceChildren(h('h3', { text: 'Reply to ' + d.emails[i].from }), b, h('button', { onclick: () => EG.done({ action: 'reply', from: d.emails[i].from, body: b.value }) }, 'Send')); };
  const fwd = (i) => {
    const to = h('input', { type: 'text', 'aria-label': 'To' });
    a.replaceChildren(h('h3', { text: 'Forward: ' + d.emails[i].subject }), to, h('p', { text: d.emails[i].body }),
      h('button', { onclick: () => EG.done({ action: 'forward', from: d.emails[i].from, to: to.value }) }, 'Send'));
  };
  inbox();
};

T['navigate-menu'] = (d, a) => {
  const build = (items, path) => h('ul', { role: 'menu' }, ...items.map(it => {
    const p = path.concat(it.label);
    if (!it.children) return h('li', {}, h('span', { role: 'menuitem', tabindex: 0, onclick: () => EG.done({ path: p.join(' > ') }) }, it.label));
    const sub = build(it.children, p);
    sub.classList.add('hidden');
    const head = h('span', { role: 'menuitem', tabindex: 0, 'aria-expanded': 'false', 'aria-haspopup': 'true' }, it.label + ' ▸');
    head.addEventListener('click', () => { const open = sub.classList.toggle('hidden') === false; head.setAttribute('aria-expanded', String(open)); });
    return h('li', {}, head, sub);
  }));
  a.append(h('nav', { class: 'menu' }, build(d.menu, [])));
};

T['book-flight'] = (d, a) => {
  const from = h('input', { type: 'text' }), to = h('input', { type: 'text' }), date = h('input', { type: 'text', placeholder: 'MM/DD/YYYY' });
  const res = h('div', {});
  const search = () => {
    const f = from.value, t = to.value, dt = date.value;
    if (!f || !t || !dt) { res.replaceChildren(h('p', { text: 'Fill in From, To and Date.' })); return; }
    res.replaceChildren(h('table', {}, h('tr', {}, h('th', { text: 'Flight' }), h('th', { text: 'Depart' }), h('th', { text: 'Duration' }), h('th', { text: 'Price' }), h('th', { text: '' })),
      ...d.flights.map(fl => h('tr', {}, h('td', { text: fl.code }), h('td', { text: fl.depart }), h('td', { text: fl.duration }), h('td', { text: '$' + fl.price }),
        h('td', {}, h('button', { 'aria-label': 'Book ' + fl.code + ' for $' + fl.price, onclick: () => EG.done({ from: f, to: t, date: dt, flight: fl.code }) }, 'Book'))))));
  };
  a.append(h('label', {}, 'From ', from), h('br'), h('label', {}, 'To ', to), h('br'), h('label', {}, 'Date ', date), h('br'),
    h('button', { onclick: search }, 'Search flights'), res);
};

T['sort-table'] = (d, a) => {
  let col = '', dir = '';
  const tbl = h('table', {});
  const draw = () => {
    const rows = d.rows.slice();
    if (col) {
      const i = d.cols.indexOf(col);
      rows.sort((x, y) => (typeof x[i] === 'number' ? x[i] - y[i] : String(x[i]).localeCompare(String(y[i]))) * (dir === 'asc' ? 1 : -1));
    }
    tbl.replaceChildren(h('tr', {}, ...d.cols.map(c => h('th', {}, h('button', {
      onclick: () => { if (col === c) dir = dir === 'asc' ? 'desc' : 'asc'; else { col = c; dir = 'asc'; } draw(); }
    }, c + (col === c ? (dir === 'asc' ? ' ▲' : ' ▼') : ''))))),
      ...rows.map(r => h('tr', {}, ...r.map(v => h('td', { text: String(v) })))));
  };
  draw();
  a.append(tbl, EG.submit(() => ({ col: col, dir: dir })));
};

T['use-autocomplete'] = (d, a) => {
  const i = h('input', { type: 'text', 'aria-label': 'Country', autocomplete: 'off' });
  const list = h('div', { role: 'listbox' });
  i.addEventListener('input', () => {
    const v = i.value.toLowerCase();
    list.replaceChildren(...(v.length < 2 ? [] : d.items.filter(w => w.toLowerCase().startsWith(v)).slice(0, 6).map(w =>
      h('div', { role: 'option', tabindex: 0, onclick: () => { i.value = w; list.replaceChildren(); } }, w))));
  });
  a.append(i, list, EG.submit(() => ({ value: i.value })));
};

T['click-tab'] = (d, a) => {
  const panels = d.tabs.map(links => h('div', { role: 'tabpanel', class: 'hidden' }, ...links.map(w =>
    h('p', {}, h('a', { href: '#', onclick: (e) => { e.preventDefault(); EG.done({ clicked: w }); } }, w)))));
  const tabs = d.tabs.map((_, i) => h('span', { role: 'tab', tabindex: 0, 'aria-selected': 'false', onclick: () => sel(i) }, 'Tab #' + (i + 1)));
  const sel = (i) => { panels.forEach((p, j) => p.classList.toggle('hidden', j !== i)); tabs.forEach((t, j) => t.setAttribute('aria-selected', String(j === i))); };
  sel(0);
  a.append(h('div', { role: 'tablist' }, tabs), ...panels);
};

T['read-table'] = (d, a) => {
  a.append(h('table', {}, h('tr', {}, h('th', { text: 'Name' }), h('th', { text: 'Age' }), h('th', { text: 'City' })),
    ...d.people.map(p => h('tr', {}, h('td', { text: p.name }), h('td', { text: String(p.age) }), h('td', { text: p.city })))));
};

T['click-collapsible'] = (d, a) => {
  a.append(...d.sections.map(s => {
    const body = h('div', { class: 'hidden' }, ...s.buttons.map(b => h('button', { onclick: () => EG.done({ section: s.title, clicked: b }) }, b)));
    const head = h('button', { 'aria-expanded': 'false' }, s.title);
    head.addEventListener('click', () => { const open = body.classList.toggle('hidden') === false; head.setAttribute('aria-expanded', String(open)); });
    return h('div', {}, head, body);
  }));
};

T['hover-reveal'] = (d, a) => {
  a.append(...d.cards.map(c => {
    const btn = h('button', { class: 'hidden', onclick: () => EG.done({ opened: c }) }, 'Open ' + c);
    const card = h('div', { class: 'card', tabindex: 0, 'aria-label': c, onmouseenter: () => { a.querySelectorAll('.rev').forEach(b => b.classList.add('hidden')); btn.classList.remove('hidden'); } }, c);
    btn.classList.add('rev');
    return h('div', {}, card, btn);
  }));
};

T['todo-delete'] = (d, a) => {
  const items = d.items.slice();
  const ul = h('ul', {});
  const draw = () => ul.replaceChildren(...items.map((w, i) => h('li', {}, w + ' ', h('button', { 'aria-label': 'Delete ' + w, onclick: () => { items.splice(i, 1); draw(); } }, 'Delete'))));
  draw();
  a.append(ul, h('button', { onclick: () => EG.done({ remaining: items.slice() }) }, 'Save'));
};

T['click-dialog'] = (d, a) => {
  const dlg = h('div', { role: 'dialog', 'aria-label': d.title, class: 'card' }, h('b', { text: d.title }), h('p', { text: d.body }),
    ...d.buttons.map(b => h('button', { onclick: () => EG.done({ clicked: b }) }, b)));
  a.append(dlg);
};

T['scroll-find'] = (d, a) => {
  a.append(...d.paras.map(p => h('p', { text: p })), h('button', { onclick: () => EG.done({ clicked: d.button }) }, d.button));
};

if (window.TASK !== null) EG.render();
