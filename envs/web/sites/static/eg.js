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
};
window.__egState = { done: false };
