// Works 80 ms, longer than the settle wait's quiet period, then answers.
onmessage = (e) => {
  const t = performance.now();
  while (performance.now() - t < 80) {}
  postMessage(e.data * 2);
};
