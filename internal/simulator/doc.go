// Package simulator is an in-process fake of the OpenAI endpoints rtgate uses:
// the Realtime API (POST /v1/realtime/client_secrets, the retired beta
// POST /v1/realtime/sessions, POST /v1/realtime/calls and its hangup, and the
// sideband WebSocket GET /v1/realtime?call_id=…) and GPT-Live
// (POST /v1/live/sessions, its hangup, and the sideband WebSocket
// GET /v1/live/sessions/{id}/attach). It reproduces OpenAI's response shapes,
// validation messages, error bodies, response headers and server events (see
// /work/shared/docs/openai-realtime-api.md, openai-live-api.md, and
// openai-go v3.99.0's realtime and live packages, which its tests use as the
// client), can be switched into fault modes (500, 401, 429, 503, slow, dropped
// connection), can serve Azure OpenAI's v1 shape (Options.Azure) and TLS
// (NewTLSCert). docs/simulator.md lists the whole surface.
//
// A Simulator is an http.Handler; mount it at the root of a server (it serves
// the /v1 prefix itself). All methods are safe for concurrent use. Each call
// or Live session has an event bus: every server event goes, in order, to the
// browser's data channel (carried by an Answerer, for example the pion peer in
// the webrtcpeer subpackage) and to every attached sideband. Without an
// Answerer the simulator answers offers with a canned SDP and no media (no
// data channel opens, no audio flows); sessions still exist, sidebands attach
// and the scripting hooks (Go methods and POST /_simulator/… endpoints, which
// are not OpenAI endpoints) drive them.
//
// Where OpenAI is silent the simulator chooses, and says so here.
//
// Keys, validation, REST:
//   - A missing key gets OpenAI's "You didn't provide an API key" 401 (code null); a
//     wrong key gets "Incorrect API key provided: <masked>" with code invalid_api_key,
//     masked as OpenAI does (first 8, stars, last 4; keys of 12 characters or fewer are
//     all stars). An ek_ secret is never accepted where a standard key is required
//     (client secrets, hangups, Live, sidebands, control endpoints).
//   - Validation errors follow OpenAI's wording and codes (unknown_parameter,
//     invalid_type, invalid_value, missing_required_parameter, empty_string,
//     integer_below_min_value, ...) with a dotted param path. An empty mint body is
//     treated as {}; a wrong Content-Type is a 400 unsupported_content_type.
//     Realtime tools, tool_choice, reasoning, truncation and prompt are checked
//     against openai-go's shapes (a function tool may leave out its type); the
//     transcription model is an open string, as in the spec.
//   - The effective session echoes the request and fills the documented defaults;
//     the model is echoed as sent (no dated snapshot), session.expires_at is 0 as in
//     the SPEC example.
//   - The beta endpoints authenticate, then answer 400 beta_api_shape_disabled; a
//     sideband handshake with OpenAI-Beta: realtime=v1 gets that error event and
//     close code 4000.
//   - /v1/realtime/calls accepts a standard key or an unexpired ek_ with either body
//     form; the call's session is the multipart session, else the secret's, else the
//     defaults. A bad offer is a 400 with the simulator's own code invalid_offer.
//   - Faults apply to every request that reaches the simulator (WebSocket
//     handshakes included), before routing and authentication. CORS preflights are
//     answered before counting and faults.
//   - x-ratelimit-* figures are informational (never enforced); 429 type is
//     "requests" as OpenAI reports request-rate limits.
//
// Sessions and their end:
//   - A Realtime call ends on POST …/hangup (EndHangup), when its peer closes
//     or loses the connection or closes the data channel (EndPeerGone), or at
//     Options.MaxCallDuration on the injected clock (default 60 minutes, OpenAI's
//     stated limit: an error event code session_expired "Your session hit the
//     maximum duration of 60 minutes.", then the end). Realtime documents no final
//     event, so sidebands just get a normal close (1000) after the last events.
//   - A Live session ends with session.closed and its reason: close_requested
//     (session.close on the data channel or a sideband, the hangup endpoint, or a
//     graceful_close sideband going away), remote_hangup (the peer closed the
//     connection or the data channel), connection_lost (the connection failed) or
//     expired (Options.LiveMaxDuration, default 60 minutes: OpenAI states no WebRTC
//     limit). The data channel and every sideband get session.closed, then the
//     sidebands a normal close and the peer is hung up. The event's session is the
//     final SessionResource (status stays "active", as the SDK documents).
//   - POST /v1/live/sessions/{id}/hangup is documented for SIP only. The
//     simulator ends WebRTC sessions with it too (200, reason close_requested),
//     because the SDK's session.closed documentation lists "a hangup request"
//     under close_requested and a third-party mock answers it for WebRTC; rtgate
//     should still prefer session.close on the sideband.
//   - Ended sessions are forgotten: hangup, sideband handshakes and control calls
//     for them are 404 (call_id_not_found "No session found for the provided
//     call_id" for calls, as a community post recorded it; session_not_found for
//     Live, measured as a 404 by third parties). EndReason remembers why the last
//     4096 ended.
//   - Nothing in the simulator waits on wall time except TickInterval (default
//     200 ms), which only decides how soon clock-driven effects are noticed:
//     expiry and Live usage are computed from Options.Now, and Tick applies them at
//     once.
//
// Sidebands:
//   - Only a standard key authenticates (Bearer; api-key in Azure mode); an
//     ek_, a wrong or a missing key is the REST 401 before the upgrade, an
//     unknown or ended id a 404, /v1/realtime without call_id a 400 (the
//     simulator serves no model= or intent= WebSocket).
//   - Attaching replays nothing. Every server event emitted after attaching
//     reaches the sideband, including the session.updated that answers a
//     browser's session.update (with the new values) and errors caused by
//     another client's event. Client events from a sideband are handled like
//     the browser's, except that a Live session's data-channel permissions do
//     not apply to them.
//   - Live graceful_close (query parameter, default true as openai-go's
//     README implies): when such a sideband's socket closes (cleanly or not), the
//     session closes with close_requested. Pass graceful_close=false to observe
//     without owning the session's life. The Realtime sideband has no such
//     parameter; closing it never ends the call.
//   - A sideband more than 1024 events behind is closed with 1008.
//   - The data channel receives the first event (session.created /
//     session.started, with the current session) when it opens, then what was
//     emitted before it opened (at most 256 events). Sidebands attached before it
//     opened also see that first event.
//
// Realtime events and usage:
//   - session.update is validated like the REST session (type required);
//     objects merge member by member (audio.output.voice alone keeps
//     audio.input), type and model stay fixed, and changing the voice after an
//     audio response is the error cannot_update_voice ("Cannot update a
//     conversation's voice if assistant audio is present."). conversation.item.create
//     adds an item (conversation.item.added and .done); response.create makes a
//     response; the other documented client events are accepted with no effect;
//     an unknown type is an invalid_value error.
//   - Turn detection runs on the browser's RTP packets (Link.Audio), by RTP
//     timestamp, never wall time: a packet is voiced when its Opus payload has at
//     least VoicedPayloadBytes (20) bytes (Opus codes silence and a disabled
//     microphone in about 3 bytes; Chromium's fake microphone beeps in 35–135 byte
//     frames). Three voiced packets in a row start speech:
//     input_audio_buffer.speech_started with audio_start_ms = first voiced ms −
//     prefix_padding_ms (default 300, not below 0). Speech stops once a packet
//     arrives silence_duration_ms (default 200; 500 for semantic_vad) after the
//     end of the last voiced one (each packet is taken as 20 ms):
//     speech_stopped (audio_end_ms = end of voice + silence), committed, the user
//     item, and, when create_response is not false, a response. With
//     turn_detection null there are no such events. Chromium's fake microphone
//     pauses only ~130 ms between beeps, so it is one long turn until the track is
//     disabled; rtgate's idle-timeout tests should disable the track or use
//     SimulateTurn. idle_timeout_ms and output_audio_buffer.* are not simulated.
//   - A response is response.created, rate_limits.updated,
//     response.output_item.added, response.output_item.done and response.done.
//     The reply echoes the turn's voiced audio (the peer already echoes the
//     media); a response.create with no new audio replies 1000 ms.
//   - Usage (response.done's response.usage) is deterministic: user audio is one
//     token per 100 ms of committed buffer (padding and silence included),
//     assistant audio one per 50 ms of reply, the transcript one text token per
//     500 ms (text output only when output_modalities is ["text"]), text one token
//     per 4 characters, an input_image part 85 tokens. A response's input is the
//     instructions, any response.instructions, and every conversation item
//     before it; the cached part is the instructions (from the second response
//     on) plus the items that were input to the previous response. Output above
//     max_output_tokens is cut and the response is "incomplete".
//     EmitResponse (POST /_simulator/calls/{id}/response) emits a response with
//     exactly the usage given, leaving the conversation alone; SimulateTurn
//     (…/turn) plays a spoken turn without media.
//
// GPT-Live:
//   - POST /v1/live/sessions validates MediaSessionConfig strictly (every object,
//     unknown members are unknown_parameter with the dotted param): model is
//     gpt-live-1 or gpt-live-1.1 (in Azure mode a deployment), voices are the SDK's
//     built-in list or {id}, audio.format is refused (WebRTC negotiates it),
//     input holds at most 128 one-part messages, delegation is client, responses
//     or decisions. transport.sdp missing or empty is invalid_value "An SDP offer
//     is required."; transport.type "sip" is 403 outbound_sip_not_enabled. The
//     answer is 201 {session:{id:"live_…"}, transport:{type:"webrtc", sdp}} with
//     no Location header.
//   - The SessionResource resolves defaults: voice marin, delegation
//     {type:"client", acknowledgement_delay_ms:0} (400 for decisions),
//     instructions null when not given, data channel allowlists "all".
//   - usage.seconds is the time since creation on the injected clock (to the
//     millisecond, capped at the maximum duration) plus AdvanceLiveUsage; it is
//     emitted as session.usage.updated every LiveUsageInterval (default 1 s) of
//     that clock, from creation (queued for the data channel until it opens) and
//     in session.closed. It does not include OpenAI's 15-second initialization
//     charge, which is a price rule, not usage.
//   - allowed_client_events applies to the data channel only: a refused event
//     gets an info event code data_channel_permissions (with client_event_id) and
//     has no effect. allowed_server_events filters what the data channel
//     receives, every event type alike (session.started, error and info
//     included); sidebands receive everything.
//   - session.update may change only delegation settings (same type) and
//     triggers; anything else is unknown_parameter (session.instructions,
//     session.model, session.audio, ...). session.instructions/thinking/commentary
//     .append (content at most 500 tokens; delegation_id required, non-null refused
//     under Responses delegation) answer with the …appended event; mute/unmute
//     with muted/unmuted. response.create and response.item.create need
//     Responses delegation; response.create emits two response.event wrappers
//     (response.created, response.completed with usage: input tokens = backend
//     instructions + response.item.create items at 4 characters a token, output
//     20). session.start and session.input_audio.append are refused on the data
//     channel and sidebands (WebRTC sessions are already started).
//
// Azure mode (Options.Azure):
//   - Every endpoint moves under /openai/v1 (the v1 API of
//     https://{resource}.openai.azure.com); /v1/… is 404. Any api-version query
//     parameter is a 400 ("api-version query parameter is not allowed when using
//     /v1 path").
//   - A standard key must come in the api-key header; a Bearer standard key is
//     refused (the simulator is strict so rtgate proves it sends the documented
//     header). 401s use Azure's body {"error":{"code":"401","message":"Access
//     denied due to invalid subscription key or wrong API endpoint. ..."}}.
//   - /openai/v1/realtime/calls accepts only a Bearer ek_ (a recorded
//     third-party test saw it refuse api-key with 401), so a server-side call
//     must mint a secret first. Live and the sidebands use api-key.
//   - Models are deployment names. With Options.Deployments set, an unknown one
//     is Azure's 404 DeploymentNotFound; otherwise any name is accepted.
//
// TLS: NewTLSCert makes a throwaway CA and a leaf for 127.0.0.1, ::1 and
// localhost; serve the simulator with its tls.Config (https and wss) and give
// clients the CA file.
package simulator
