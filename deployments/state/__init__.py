"""What a deployment is doing: the runtime's last word (`observer` writes `observation`), the status
decided from it and the rollouts (`status`, its only writer), and what pages, the API and sockets
show of it (`report`, `page`). See "State flow" in docs/development.md."""
