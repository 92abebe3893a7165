// A loopback receiver for outbound webhooks: a node:http server on 127.0.0.1 (the generic
// scripted server of loopback.ts) that records every delivery and verifies it the way a
// customer's endpoint would, with the standardwebhooks package's Webhook.verify, so the
// signatures are checked by an implementation other than ours.
//
//   const receiver = await startWebhookReceiver([{ status: 500 }, { status: 200 }]);
//   … subscribe `${receiver.url}/hooks` …
//   const delivery = receiver.verified(secret)[0];     // { id, timestamp, type, data, … }
//   await receiver.close();
import { Webhook } from "standardwebhooks";
import { type Behaviour, type LoopbackServer, type RecordedRequest, type Reply, startHttpServer } from "./loopback.ts";

export interface Delivery {
  /** webhook-id */
  id: string;
  /** webhook-timestamp, Unix seconds. */
  timestamp: number;
  type: string;
  /** The body's ISO timestamp. */
  at: string;
  data: Record<string, any>;
  request: RecordedRequest;
}

export interface WebhookReceiver extends LoopbackServer {
  /** Every request verified with the secret (each must verify, or this throws naming the one that did not). */
  verified(secret: string, matches?: (request: RecordedRequest) => boolean): Delivery[];
}

export function verify(request: RecordedRequest, secret: string): Delivery {
  const payload = new Webhook(secret).verify(request.body, {
    "webhook-id": request.headers["webhook-id"] ?? "",
    "webhook-timestamp": request.headers["webhook-timestamp"] ?? "",
    "webhook-signature": request.headers["webhook-signature"] ?? "",
  }) as { type: string; timestamp: string; data: Record<string, unknown> };
  return {
    id: request.headers["webhook-id"]!, timestamp: Number(request.headers["webhook-timestamp"]),
    type: payload.type, at: payload.timestamp, data: payload.data, request,
  };
}

/** Answers by behaviour (default 204), per request in arrival order. */
export async function startWebhookReceiver(behaviour: Behaviour = { status: 204 }): Promise<WebhookReceiver> {
  const server = await startHttpServer((request, call): Reply => {
    if (typeof behaviour === "function") return behaviour(request, call);
    if (Array.isArray(behaviour)) return behaviour[Math.min(call, behaviour.length - 1)] ?? { status: 204 };
    return behaviour;
  });
  return Object.assign(server, {
    verified(secret: string, matches: (request: RecordedRequest) => boolean = () => true) {
      return server.requests.filter(matches).map((request) => verify(request, secret));
    },
  });
}
