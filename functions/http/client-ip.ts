// The client's address, for the per-IP limits of the routes open without a key. The peer of the
// socket is the client unless proxies stand in between, and X-Forwarded-For is believed only as
// far as the deployment says (TRUST_PROXY): each proxy appends the address it was connected
// from, so with N trusted proxies the client is the N-th address from the right, and anything
// further left was written by the client itself.
//
// The socket's peer comes from the runtime's bindings, read without importing either runtime:
// @hono/node-server hands the app { incoming } (the Node request), Deno.serve its ServeHandlerInfo
// { remoteAddr }.
import type { Context } from "hono";
import type { AppEnv } from "./context.ts";

interface RuntimeBindings {
  incoming?: { socket?: { remoteAddress?: string } };
  server?: { incoming?: { socket?: { remoteAddress?: string } } };
  remoteAddr?: { hostname?: string };
}

/** The address the connection came from, as the runtime reports it. */
function peerAddress(c: Context<AppEnv>): string | undefined {
  const env = c.env as RuntimeBindings | undefined;
  return env?.incoming?.socket?.remoteAddress ?? env?.server?.incoming?.socket?.remoteAddress ?? env?.remoteAddr?.hostname;
}

/** The client's address: the socket's peer, or the address the trusted proxies name. */
export function clientIp(c: Context<AppEnv>): string {
  const hops = c.var.config.limits.trustedProxyHops;
  if (hops > 0) {
    const forwarded = (c.req.header("x-forwarded-for") ?? "").split(",").map((part) => part.trim()).filter(Boolean);
    if (forwarded.length > 0) return ipKey(forwarded[Math.max(0, forwarded.length - hops)]!);
  }
  return ipKey(peerAddress(c) ?? "unknown");
}

/**
 * The address as a bucket key: ports and brackets dropped, IPv4-mapped IPv6 as IPv4, and IPv6
 * by its /64 network (one subscriber usually holds a whole /64, so single addresses would be
 * free for the taking). Anything else is kept as text, cut to 64 characters.
 */
export function ipKey(address: string): string {
  let text = address.trim().toLowerCase();
  const bracketed = text.match(/^\[([^\]]+)\](?::\d+)?$/);
  if (bracketed) text = bracketed[1]!;
  else if (/^\d{1,3}(\.\d{1,3}){3}:\d+$/.test(text)) text = text.replace(/:\d+$/, "");
  text = text.replace(/%.*$/, "");
  const mapped = text.match(/^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/);
  if (mapped) return mapped[1]!;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) return text;
  const groups = ipv6Groups(text);
  if (groups) return `${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`;
  return text.slice(0, 64) || "unknown";
}

/** The eight 16-bit groups of an IPv6 address, or undefined when it is not one. */
function ipv6Groups(text: string): number[] | undefined {
  if (!/^[0-9a-f:.]+$/.test(text) || !text.includes(":")) return undefined;
  let body = text;
  // An embedded IPv4 address in the last 32 bits (64:ff9b::192.0.2.1).
  const v4 = body.match(/(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    body = `${body.slice(0, -v4[0].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const part = (half: string) => (half === "" ? [] : half.split(":"));
  const head = part(halves[0]!);
  const tail = halves.length === 2 ? part(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || (halves.length === 2 && missing < 1)) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  if (all.some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return undefined;
  return all.map((g) => parseInt(g, 16));
}
