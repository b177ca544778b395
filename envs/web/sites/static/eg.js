// Shared helpers of the task pages. A task page renders window.TASK into
// #area and calls EG.done(fields) when the episode ends; the env reads
// window.__egState.
const EG = {
  h(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'text') e.textContent = v;
      else if (v !== false && v !== undefined && v !== null) e.setAttribute(k, v === true ? '' : v);
    }
    for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k);
    return e;
  },
  done(fields) {
    window.__egState = Object.assign({ done: true }, fields);
    const a = document.getElementById('area');
    a.replaceChildren(EG.h('p', { text: 'Submitted.' }));
  },
  submit(get) { return EG.h('button', { id: 'subbtn', onclick: () => EG.done(get()) }, 'Submit'); },
  tasks: {},
  render() {
    const a = document.getElementById('area');
    a.replaceChildren();
    EG.tasks[window.TASKNAME](window.TASK, a);
  },
  // begin starts an instance in a page served without one (a shell the
  // env loaded ahead): the page then is what the seeded URL serves.
  begin(data, goal, path) {
    if (window.TASK !== null) throw new Error('EG.begin: the page already shows an instance');
    window.TASK = data;
    document.getElementById('query').textContent = goal;
    history.replaceState(null, '', path);
    EG.render();
    return true;
  },
};
window.__egState = { done: false };
