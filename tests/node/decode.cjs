// Reads a response body on stdin and decodes it exactly as the quickstart's chat.tsx does:
// AssistantStream.fromReadableStream (openai-node 4.46.0) with chat.tsx's handlers attached.
// The body is fed in small chunks, as a network delivers it. Prints one JSON summary:
// {messages: [{role, text}], inputDisabled, requiresAction, events, errors, annotations}
// (annotations: every annotation textDelta handed chat.tsx, as it got them)
"use strict";
const { AssistantStream } = require("openai/lib/AssistantStream");

const CHUNK = Number(process.env.CHUNK_BYTES || 7);

function readStdin() {
  return new Promise((resolve) => {
    const parts = [];
    process.stdin.on("data", (d) => parts.push(d));
    process.stdin.on("end", () => resolve(Buffer.concat(parts)));
  });
}

async function main() {
  const body = await readStdin();
  const readable = new ReadableStream({
    start(controller) {
      for (let i = 0; i < body.length; i += CHUNK) controller.enqueue(new Uint8Array(body.subarray(i, i + CHUNK)));
      controller.close();
    },
  });

  // chat.tsx state
  const messages = [];
  let inputDisabled = true; // set when the user sent the message
  let requiresAction = null;
  const events = [];
  const errors = [];
  const annotations = [];
  process.on("unhandledRejection", (reason) => errors.push(`unhandled: ${reason && reason.message ? reason.message : reason}`));

  const appendToLastMessage = (text) => {
    messages[messages.length - 1].text += text;
  };
  const annotateLastMessage = (annotations) => {
    const last = messages[messages.length - 1];
    annotations.forEach((annotation) => {
      if (annotation.type === "file_path") {
        last.text = last.text.replaceAll(annotation.text, `/api/files/${annotation.file_path.file_id}`);
      }
    });
  };

  const stream = AssistantStream.fromReadableStream(readable);
  stream.on("textCreated", () => messages.push({ role: "assistant", text: "" }));
  stream.on("textDelta", (delta) => {
    if (delta.value != null) appendToLastMessage(delta.value);
    if (delta.annotations != null) {
      annotations.push(...delta.annotations);
      annotateLastMessage(delta.annotations);
    }
  });
  stream.on("imageFileDone", (image) => appendToLastMessage(`\n![${image.file_id}](/api/files/${image.file_id})\n`));
  stream.on("toolCallCreated", (toolCall) => {
    if (toolCall.type !== "code_interpreter") return;
    messages.push({ role: "code", text: "" });
  });
  stream.on("toolCallDelta", (delta) => {
    if (delta.type !== "code_interpreter") return;
    if (!delta.code_interpreter.input) return;
    appendToLastMessage(delta.code_interpreter.input);
  });
  stream.on("event", (event) => {
    events.push(event.event);
    if (event.event === "thread.run.requires_action") {
      requiresAction = {
        runId: event.data.id,
        toolCalls: event.data.required_action.submit_tool_outputs.tool_calls,
      };
    }
    if (event.event === "thread.run.completed") inputDisabled = false;
  });

  try {
    await stream.done();
  } catch (err) {
    errors.push(`done: ${err && err.message ? err.message : err}`);
  }
  await new Promise((r) => setTimeout(r, 20)); // let unhandled rejections surface
  process.stdout.write(JSON.stringify({ messages, inputDisabled, requiresAction, events, errors, annotations }));
}

main();
