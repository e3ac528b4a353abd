// Preloaded into a gateway the bench measures for memory (node --expose-gc --require this file).
// On SIGWINCH: a full garbage collection, then the live heap and RSS as one line on stderr. Heap
// figures read without a collection mostly measure how much garbage awaits the next one.
// SIGWINCH because close-with-grace shuts the server down on SIGUSR2, Node keeps SIGUSR1 for its
// inspector, and a process without this file ignores SIGWINCH. CommonJS so `--require` loads it
// whether the gateway runs from dist/ or through tsx.
process.on('SIGWINCH', () => {
  globalThis.gc?.();
  const m = process.memoryUsage();
  const { heapUsed, heapTotal, external, arrayBuffers, rss } = m;
  process.stderr.write(
    `\ngc-probe ${JSON.stringify({ heapUsed, heapTotal, external, arrayBuffers, rss })}\n`,
  );
});
