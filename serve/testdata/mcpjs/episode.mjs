// Plays web/shop-v0 through gym's MCP server with the official MCP
// TypeScript SDK, as any Node agent would. Driven by serve/mcp_test.go:
//
//   node episode.mjs http URL TOKEN ACTIONS_JSON SEED
//   node episode.mjs stdio GYM PLUGIN_DIR ACTIONS_JSON SEED
//
// ACTIONS_JSON is the oracle's solution of SEED. The script checks each
// step itself and prints JSON lines: {"ready_to_crash":…,"pid":…} when it
// wants the plugin killed (it then waits for a line on stdin), and a final
// {"ok":true,…} summary. Any failed check exits 1 with the reason.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { createInterface } from "node:readline";

const [mode, a1, a2, actionsJSON, seedArg] = process.argv.slice(2);
const actions = JSON.parse(actionsJSON);
const seed = Number(seedArg);

function fail(msg) {
  console.error("FAIL: " + msg);
  process.exit(1);
}

function check(cond, msg) {
  if (!cond) fail(msg);
}

const transport =
  mode === "http"
    ? new StreamableHTTPClientTransport(new URL(a1), { requestInit: { headers: { Authorization: `Bearer ${a2}` } } })
    : new StdioClientTransport({ command: a1, args: ["--plugin-dir", a2, "mcp", "web/shop-v0"], stderr: "inherit" });
const client = new Client({ name: "envgym-node-test", version: "0.0.0" });
await client.connect(transport);

const { tools } = await client.listTools();
const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
for (const name of ["reset", "step", "click", "fill", "select", "press", "scroll", "answer"]) {
  check(byName[name]?.description && byName[name]?.outputSchema, `tool ${name} missing or undocumented`);
}
check(byName.click.inputSchema.properties.id.type === "integer", "click's id is not typed integer");

const text = (res) => res.content.filter((c) => c.type === "text").map((c) => c.text).join("\n");

// An action string such as fill(3, "x") as a call of the tool of that
// name, the arguments named in the order the schema requires them.
function toolCall(action) {
  const m = /^(\w+)\((.*)\)$/s.exec(action.trim());
  check(m && byName[m[1]], `oracle action ${action} has no tool`);
  const names = byName[m[1]].inputSchema.required ?? [];
  const args = {};
  // The grammar's strings are JSON strings, its ids integers, and other
  // bare words (scroll(down)) enum values.
  const values = m[2].match(/"(?:[^"\\]|\\.)*"|[^,\s][^,]*/g) ?? [];
  values.forEach((v, i) => {
    v = v.trim();
    args[names[i]] = v.startsWith('"') ? JSON.parse(v) : /^-?\d+$/.test(v) ? Number(v) : v;
  });
  return { name: m[1], arguments: args };
}

let res = await client.callTool({ name: "reset", arguments: { seed, options: { screenshot: true } } });
check(!res.isError && res.structuredContent.status === "OK", `reset: ${text(res)}`);
const img = res.content.find((c) => c.type === "image");
check(img && img.mimeType === "image/png" && Buffer.from(img.data, "base64").subarray(1, 4).toString() === "PNG", "no PNG image block after reset with a screenshot");

let last;
for (const a of actions) {
  res = await client.callTool(toolCall(a));
  last = res.structuredContent;
  check(!res.isError && last.status === "OK" && last.action === a, `step ${a}: ${JSON.stringify(last)}`);
}
check(last.reward === 1 && last.terminated === true && last.info.success === true, `final step ${JSON.stringify(last)}`);

// An invalid action is a tool error with status INVALID_ACTION.
await client.callTool({ name: "reset", arguments: { seed } });
res = await client.callTool({ name: "click", arguments: { id: 99999 } });
check(res.isError && res.structuredContent.status === "INVALID_ACTION", `click(99999): ${text(res)}`);

// Wrong argument types: a tool error; an unknown tool: a JSON-RPC error.
res = await client.callTool({ name: "click", arguments: { id: "seven" } });
check(res.isError && /id/.test(text(res)), `click("seven"): ${text(res)}`);
let unknownTool = "";
try {
  await client.callTool({ name: "fly", arguments: {} });
} catch (e) {
  unknownTool = `${e.code} ${e.message}`;
}
check(/-32602/.test(unknownTool) && /fly/.test(unknownTool), `unknown tool: ${unknownTool}`);

// The plugin is killed by the Go test: the next step is CRASHED.
console.log(JSON.stringify({ ready_to_crash: true, pid: mode === "stdio" ? transport.pid : null }));
const rl = createInterface({ input: process.stdin });
await new Promise((resolve) => rl.once("line", resolve));
rl.close();
res = await client.callTool({ name: "step", arguments: { action: "scroll(down)" } });
check(res.isError && res.structuredContent.status === "CRASHED" && res.structuredContent.truncated, `after the kill: ${JSON.stringify(res.structuredContent)}`);
res = await client.callTool({ name: "reset", arguments: { seed: 1 } });
check(!res.isError, `reset after the crash: ${text(res)}`);

// A streamable HTTP session ends with an HTTP DELETE (close alone
// leaves it to the server's idle timeout).
if (mode === "http") await transport.terminateSession();
await client.close();
console.log(JSON.stringify({ ok: true, steps: actions.length, reward: last.reward, unknown_tool: unknownTool }));
