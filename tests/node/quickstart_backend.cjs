// The quickstart's Next.js backend calls (openai-node 4.46.0), unchanged, against OPENAI_BASE_URL (our /v1):
// app/api/assistants/route.ts (assistants.create with the quickstart's tools), app/api/assistants/threads/route.ts
// (threads.create), .../threads/[threadId]/messages/route.ts (messages.create + runs.stream) and
// .../threads/[threadId]/actions/route.ts (runs.submitToolOutputsStream). Each backend stream is handed on as
// the route does (`new Response(stream.toReadableStream())`) and read as chat.tsx reads it
// (AssistantStream.fromReadableStream with its handlers). Prints one JSON summary:
// {assistant: {id, tools}, threadId, first: {...}, second: {...}, errors}
// where first/second: {events, messages, requiresAction, finalRunStatus}
"use strict";
const OpenAI = require("openai");
const { AssistantStream } = require("openai/lib/AssistantStream");

const openai = new OpenAI({ baseURL: process.env.OPENAI_BASE_URL, apiKey: process.env.OPENAI_API_KEY, maxRetries: 0 });
const errors = [];
process.on("unhandledRejection", (reason) => errors.push(`unhandled: ${reason && reason.message ? reason.message : reason}`));

// app/api/assistants/route.ts
async function createAssistant() {
  const assistant = await openai.beta.assistants.create({
    instructions: "You are a helpful assistant.",
    name: "Quickstart Assistant",
    model: "gpt-4o",
    tools: [
      { type: "code_interpreter" },
      {
        type: "function",
        function: {
          name: "get_weather",
          description: "Determine weather in my location",
          parameters: {
            type: "object",
            properties: {
              location: { type: "string", description: "The city and state e.g. San Francisco, CA" },
              unit: { type: "string", enum: ["c", "f"] },
            },
            required: ["location"],
          },
        },
      },
      { type: "file_search" },
    ],
  });
  return assistant;
}

// chat.tsx's handleReadableStream, recording what the page would show.
async function readLikeChatTsx(readable) {
  const seen = { events: [], messages: [], requiresAction: null, finalRunStatus: null };
  const stream = AssistantStream.fromReadableStream(readable);
  stream.on("textCreated", () => seen.messages.push({ role: "assistant", text: "" }));
  stream.on("textDelta", (delta) => {
    if (delta.value != null) seen.messages[seen.messages.length - 1].text += delta.value;
  });
  stream.on("event", (event) => {
    seen.events.push(event.event);
    if (event.event === "thread.run.requires_action") {
      seen.requiresAction = {
        runId: event.data.id,
        toolCalls: event.data.required_action.submit_tool_outputs.tool_calls,
      };
    }
  });
  try {
    await stream.done();
    const run = stream.currentRun();
    seen.finalRunStatus = run ? run.status : null;
  } catch (err) {
    errors.push(`stream: ${err && err.message ? err.message : err}`);
  }
  return seen;
}

async function main() {
  const assistant = await createAssistant();
  const assistantId = assistant.id;
  // app/api/assistants/threads/route.ts
  const thread = await openai.beta.threads.create();
  const threadId = thread.id;

  // app/api/assistants/threads/[threadId]/messages/route.ts
  await openai.beta.threads.messages.create(threadId, { role: "user", content: "What's the weather in Oslo?" });
  const stream = openai.beta.threads.runs.stream(threadId, { assistant_id: assistantId });
  const first = await readLikeChatTsx(new Response(stream.toReadableStream()).body);

  // chat.tsx's functionCallHandler (a fixed result, as the quickstart's getWeather is), then
  // app/api/assistants/threads/[threadId]/actions/route.ts
  let second = null;
  if (first.requiresAction) {
    const toolCallOutputs = first.requiresAction.toolCalls.map((toolCall) => ({
      output: JSON.stringify({ temperature: 12, unit: "C", conditions: "Sunny" }),
      tool_call_id: toolCall.id,
    }));
    const continued = openai.beta.threads.runs.submitToolOutputsStream(threadId, first.requiresAction.runId, {
      tool_outputs: toolCallOutputs,
    });
    second = await readLikeChatTsx(new Response(continued.toReadableStream()).body);
  }
  await new Promise((r) => setTimeout(r, 20)); // let unhandled rejections surface
  process.stdout.write(
    JSON.stringify({
      assistant: { id: assistantId, tools: assistant.tools.map((t) => t.type) },
      threadId,
      first,
      second,
      errors,
    }),
  );
}

main().catch((err) => {
  errors.push(`main: ${err && err.message ? err.message : err}`);
  process.stdout.write(JSON.stringify({ errors }));
});
