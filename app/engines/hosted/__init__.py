"""Engine `hosted`: threads, messages and runs in this service's storage; each run is one model call.

`threads`, `messages`, `runs` (and steps): one service per resource, answering with records; `engine`: the
AssistantEngine methods over them; `claims`: one active run per thread; `runner`: the run tasks;
`model_client` and its adapters `responses_api`, `chat_completions_api`; `events`: stream events.
"""
