"""Engine `hosted`: threads, messages and runs in this service's storage; each run is one model call.

Modules, one job each: `threads`, `messages`, `runs` and `steps` (one service per resource, answering
with stored records), `engine` (the AssistantEngine methods over them), `claims` (one active run per
thread, leases), `runner` (the background run tasks), `model_client` (the events a model call
streams back), `responses_api` and `chat_completions_api` (its two adapters), `events`
(Assistants-shaped stream events) and `objects` (ids, and the API's view of the stored records).
Storage is `app/storage/threads.py` and its implementations.
"""
