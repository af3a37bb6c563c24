"""Live events over WebSocket: tickets, the event stream, the per-process hub and the socket route.

A service with events publishes them to its Redis stream (`event_stream.publish_event`); each
process holding sockets runs one `EventHub` that reads the stream once and fans every event out to
the sockets allowed to see it. `events_router` gives a service its three routes in a few lines:
`POST /events/tickets`, `GET /events` (the WebSocket handshake; plain HTTP gets `426`) and
`GET /events/asyncapi.json`. The protocol (messages, close codes, the resume window) is in
`protocol` and in the AsyncAPI document each service serves.
"""
