// TypeScript declarations for rtgate-client.js (served beside it by rtgate
// at /rtgate-client.d.ts). Keep them in step with the module:
// web/typecheck_test.go compiles web/typecheck/example.ts against this file
// with a pinned tsc and compares every declared member with the module's
// runtime objects.

/** How the browser reaches the model. */
export type Mode =
  /** rtgate mints a short-lived `ek_` secret; the browser posts its offer to the Realtime API itself. rtgate cannot end or police the call. */
  | "token"
  /** The browser posts its offer to rtgate's `POST /api/realtime-call`; no secret reaches the page and rtgate can end the call. */
  | "call"
  /** GPT-Live through rtgate's `POST /api/live-session`; like `"call"`. */
  | "live";

/** An event received on the `oai-events` data channel. A message that is not a JSON object arrives as `{type: "rtgate.unparsable", data}`. */
export interface ServerEvent {
  type: string;
  [key: string]: unknown;
}

/** Error codes rtgate itself answers with (`source: "rtgate"`). rtgate may add codes; compare, do not enumerate. */
export type RtgateCode =
  | "bad_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "method_not_allowed"
  | "payload_too_large"
  | "unsupported_media_type"
  | "rate_limited"
  /** The user already holds USER_MAX_ACTIVE_SESSIONS sessions; `retryAfter` is when the earliest ends. */
  | "session_limit"
  /** The user's USER_DAILY_QUOTA is used up; `retryAfter` is the next UTC midnight. */
  | "quota_exceeded"
  /** A spend budget (USER_DAILY_BUDGET_USD, DAILY_BUDGET_USD, ...) cannot cover a minimum call; `retryAfter` is the reset that frees enough. */
  | "budget_exhausted"
  | "upstream_error"
  | "upstream_timeout"
  | "unavailable"
  | "internal";

/** Error codes the module itself produces (`source: "browser"`). A response without rtgate's JSON error body gets `http_<status>`. */
export type ClientCode =
  | "invalid_options"
  | "insecure_context"
  | "microphone_denied"
  | "microphone_not_found"
  | "microphone_busy"
  | "microphone_failed"
  | "auth_header_failed"
  | "network_error"
  | "invalid_response"
  | "webrtc_failed"
  | "not_open"
  | "no_call"
  | "aborted"
  | `http_${number}`;

/** Any error code: rtgate's, the module's, or (token mode, `source: "openai"`) OpenAI's. */
export type ErrorCode = RtgateCode | ClientCode | (string & {});

/** Who produced the error code. */
export type ErrorSource = "rtgate" | "openai" | "browser";

/** Fields of an RtgateError. */
export interface RtgateErrorInit {
  code?: ErrorCode;
  status?: number;
  retryAfter?: number | null;
  requestId?: string;
  source?: ErrorSource;
  cause?: unknown;
}

/** RtgateError is the one error type connect(), send() and hangup() reject with. */
export declare class RtgateError extends Error {
  constructor(message: string, init?: RtgateErrorInit);
  readonly name: "RtgateError";
  /** rtgate's error code (for example `"rate_limited"`), OpenAI's, or the module's own. */
  readonly code: ErrorCode;
  /** The HTTP status of the refused request, or 0 when there was none. */
  readonly status: number;
  /** The response's `Retry-After`, in seconds; null when absent. */
  readonly retryAfter: number | null;
  /** rtgate's request id (for support and its logs), or "". */
  readonly requestId: string;
  readonly source: ErrorSource;
}

/** The model and voice a token-mode page may ask for; rtgate checks them against REALTIME_ALLOWED_MODELS / REALTIME_ALLOWED_VOICES. */
export interface TokenSession {
  model?: string;
  voice?: string;
}

export interface ConnectOptions {
  mode: Mode;
  /** rtgate's base URL, e.g. `"https://rtgate.example.com"`; default `""`: the page's own origin (rtgate behind the same host, or proxied by the app). */
  base?: string;
  /** fetch credentials for requests to rtgate; default `"same-origin"`. Use `"include"` for cookies on a cross-origin `base`. */
  credentials?: RequestCredentials;
  /** Extra headers on every request to rtgate. */
  headers?: Record<string, string>;
  /** Returns the `Authorization` header value for rtgate (e.g. `"Bearer " + jwt`), or nothing. Called before each request, so a refreshed token is used. */
  getAuthHeader?: () => string | null | undefined | Promise<string | null | undefined>;
  /** Token mode: the Realtime API base URL the offer is posted to (`{realtimeURL}/realtime/calls`); default `"https://api.openai.com/v1"`. */
  realtimeURL?: string;
  /** Token mode: the POST body sent to `/api/realtime-session`. */
  session?: TokenSession;
  /** A microphone stream to send (the caller keeps ownership; hangup() does not stop it), or getUserMedia constraints; default `{audio: true}` (opened and stopped by the module). */
  microphone?: MediaStream | MediaStreamConstraints;
  /** Where the remote audio plays; default a new autoplaying `<audio>` element (not attached to the page); null: do not play it (see onTrack). */
  audioElement?: HTMLAudioElement | null;
  /** Called for each event on the data channel. */
  onEvent?: (event: ServerEvent, connection: Connection) => void;
  /** Called with the remote stream when its track arrives. */
  onTrack?: (stream: MediaStream, connection: Connection) => void;
  /** Passed to `new RTCPeerConnection`. */
  rtcConfiguration?: RTCConfiguration;
  /** How long to wait for ICE gathering before sending the offer; default 2000. */
  iceGatheringTimeoutMs?: number;
  /** Hang up (with a keepalive request) when the page is hidden for good (`pagehide`); default true. */
  hangupOnPageHide?: boolean;
  /** Cancels connect(); it then rejects with code `"aborted"` and hangs up what it started. */
  signal?: AbortSignal;
}

export interface Connection {
  readonly mode: Mode;
  readonly pc: RTCPeerConnection;
  /** The `oai-events` data channel (created before the offer). */
  readonly dc: RTCDataChannel;
  /** The stream sent to the model. */
  readonly microphone: MediaStream;
  /** Where the remote audio plays, if anywhere. */
  readonly audioElement: HTMLAudioElement | null;
  /** rtgate's call id (call and live modes), OpenAI's `rtc_…` id (token mode, when readable), or null. */
  readonly callId: string | null;
  /** rtgate's URL for the call (call and live modes; hang-up is `callURL + "/hangup"`), else null. */
  readonly callURL: string | null;
  /** Sends a client event (an object is JSON-encoded) on the data channel; throws RtgateError `"not_open"` when the channel is not open. */
  send(event: object | string): void;
  /** Closes the peer connection and the module's microphone and, in call and live modes, asks rtgate to end the call. Idempotent; resolves when rtgate confirmed or no longer knows the call, rejects with RtgateError otherwise. */
  hangup(): Promise<void>;
  /** Call and live modes: rtgate's view of the running call (`GET callURL`), with the usage metered on its sideband. Rejects with RtgateError `"not_found"` once the call has ended, `"no_call"` in token mode. */
  status(): Promise<CallStatus>;
}

/** What the model consumed so far, as rtgate metered it on the call's sideband. Input counts include their cached part. Absent counters are zero. */
export interface CallUsage {
  input_text_tokens?: number;
  input_audio_tokens?: number;
  input_image_tokens?: number;
  cached_text_tokens?: number;
  cached_audio_tokens?: number;
  cached_image_tokens?: number;
  output_text_tokens?: number;
  output_audio_tokens?: number;
  /** Realtime responses. */
  responses?: number;
  /** GPT-Live voice time, in milliseconds. */
  live_ms?: number;
}

/** rtgate's view of a running call (never OpenAI's ids). */
export interface CallStatus {
  id: string;
  kind: "realtime" | "live";
  model: string;
  /** RFC 3339. */
  created_at: string;
  /** When rtgate hangs the call up at the latest (RFC 3339). */
  ends_at: string;
  usage: CallUsage;
}

/** connect opens the microphone, exchanges SDP in the chosen mode and resolves once the answer is applied; it rejects with RtgateError, having closed what it opened. */
export declare function connect(options: ConnectOptions): Promise<Connection>;
