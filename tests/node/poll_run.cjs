// openai-node's createAndPoll (4.46.0, pollIntervalMs unset) against OPENAI_BASE_URL (our /v1): the run's model call
// waits on the fake's gate until the poller has seen the run going on once, then FAKE_URL's gates are opened.
// Every answer the SDK reads is recorded through its `fetch` option. Prints one JSON summary:
// {finalStatus, created: {status, pollAfter}, polls: [{status, pollAfter}], errors}
"use strict";
const OpenAI = require("openai");
const { fetch: sdkFetch } = require("openai/_shims/index");

const RUNNING = ["queued", "in_progress", "cancelling"];
const summary = { finalStatus: null, created: null, polls: [], errors: [] };
let gatesOpened = false;

async function recordingFetch(url, init) {
  const response = await sdkFetch(url, init);
  const method = ((init && init.method) || "GET").toUpperCase();
  if (!/\/runs(\/run_[A-Za-z0-9]+)?$/.test(new URL(url).pathname)) return response;
  const run = await response.clone().json();
  const seen = { status: run.status, pollAfter: response.headers.get("openai-poll-after-ms") };
  if (method === "POST") summary.created = seen;
  else summary.polls.push(seen);
  if (method === "GET" && RUNNING.includes(run.status) && !gatesOpened) {
    gatesOpened = true;
    const opened = await sdkFetch(`${process.env.FAKE_URL}/_fake/models/open_gates`, { method: "POST" });
    if (!opened.ok) summary.errors.push(`open_gates: ${opened.status}`);
  }
  return response;
}

async function main() {
  const openai = new OpenAI({
    baseURL: process.env.OPENAI_BASE_URL,
    apiKey: process.env.OPENAI_API_KEY,
    maxRetries: 0,
    fetch: recordingFetch,
  });
  const assistant = await openai.beta.assistants.create({ model: "gpt-4o-mini", instructions: "Be brief." });
  const thread = await openai.beta.threads.create({ messages: [{ role: "user", content: "Hello" }] });
  const run = await openai.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistant.id });
  summary.finalStatus = run.status;
}

main()
  .catch((error) => summary.errors.push(String(error && error.message ? error.message : error)))
  .finally(() => process.stdout.write(JSON.stringify(summary)));
