// A usage example of rtgate-client.js, type-checked against
// rtgate-client.d.ts by web/typecheck_test.go (tsc --strict). It is also the
// record of the module's members: the `satisfies` objects below fail to
// compile when a declared member is missing from them or they name one that
// is not declared, and the Go tests compare them with the module's runtime
// objects (exports and RtgateError in Node, a live Connection in Chromium).

import * as rtgate from "../rtgate-client.js";
import { connect, RtgateError, type CallStatus, type Connection, type ConnectOptions, type ServerEvent } from "../rtgate-client.js";

export const moduleExports = { connect: true, RtgateError: true } satisfies Record<keyof typeof rtgate, true>;
export const connectionMembers = { mode: true, pc: true, dc: true, microphone: true, audioElement: true, callId: true, callURL: true, send: true, hangup: true, status: true } satisfies Record<keyof Connection, true>;
export const errorFields = { code: true, status: true, retryAfter: true, requestId: true, source: true } satisfies Record<Exclude<keyof RtgateError, keyof Error>, true>;

// Server mode (recommended): the offer goes through rtgate, no secret reaches the page.
export async function callMode(audio: HTMLAudioElement): Promise<Connection> {
  const rt = await connect({
    mode: "call",
    audioElement: audio,
    onEvent: (ev: ServerEvent, conn: Connection) => {
      if (ev.type === "session.created") conn.send({ type: "response.create" });
    },
  });
  const id: string | null = rt.callId;
  const url: string | null = rt.callURL;
  const state: RTCPeerConnectionState = rt.pc.connectionState;
  const label: string = rt.dc.label;
  const tracks: MediaStreamTrack[] = rt.microphone.getAudioTracks();
  const st: CallStatus = await rt.status();
  const spoken: number = (st.usage.output_audio_tokens ?? 0) + (st.usage.live_ms ?? 0);
  void [id, url, state, label, tracks, st.ends_at, spoken];
  return rt;
}

// GPT-Live with a JWT from the app's own login, and an existing microphone stream.
export async function liveMode(getJWT: () => Promise<string>, mic: MediaStream, signal: AbortSignal): Promise<void> {
  const options: ConnectOptions = {
    mode: "live",
    base: "https://rtgate.example.com",
    credentials: "include",
    headers: { "X-Request-ID": "demo-1" },
    getAuthHeader: async () => "Bearer " + (await getJWT()),
    microphone: mic,
    audioElement: null,
    onTrack: (stream: MediaStream) => void stream.id,
    rtcConfiguration: { iceServers: [] },
    iceGatheringTimeoutMs: 1000,
    hangupOnPageHide: true,
    signal,
  };
  const rt = await connect(options);
  await rt.hangup();
}

// Token mode: mint at rtgate, then talk to the Realtime API directly.
export async function tokenMode(): Promise<string> {
  try {
    const rt = await connect({
      mode: "token",
      realtimeURL: "https://api.openai.com/v1",
      session: { voice: "marin" },
      microphone: { audio: { echoCancellation: true } },
      getAuthHeader: () => null,
    });
    rt.send('{"type":"response.create"}');
    await rt.hangup();
    return "ok";
  } catch (err) {
    if (err instanceof RtgateError) {
      const wait: number | null = err.retryAfter;
      if (err.code === "rate_limited" && wait !== null) return `retry in ${wait} s (request ${err.requestId})`;
      if (err.code === "microphone_denied") return err.message;
      return `${err.source} ${err.status} ${err.code}`;
    }
    throw err;
  }
}

export const made = new RtgateError("x", { code: "unavailable", status: 503, retryAfter: 1, requestId: "r", source: "rtgate" });

// Misuse the declarations must reject.
export async function misuse(): Promise<void> {
  // @ts-expect-error: "proxy" is not a mode (it is "call").
  await connect({ mode: "proxy" });
  // @ts-expect-error: mode is required.
  await connect({});
  // @ts-expect-error: getAuthHeader returns the header value, not an object.
  await connect({ mode: "call", getAuthHeader: () => ({ Authorization: "Bearer x" }) });
  const rt = await connect({ mode: "call" });
  // @ts-expect-error: the connection is read-only.
  rt.callId = "x";
  // @ts-expect-error: send takes an event object or its JSON text.
  rt.send(42);
}
