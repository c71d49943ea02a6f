// Ports of a local cluster. Server i (0-based) uses base + i for each role, so a
// cluster's ports are predictable for people; a base of 0 picks free ports instead
// (tests, and clusters side by side). Fixed ports are checked before anything starts,
// so a taken one fails with its role and number rather than as a dead child.

import { createServer, type Server } from "node:net";
import { ClusterError } from "./processes.ts";

/** The address every process of a local cluster listens on. */
export const LOOPBACK_HOST = "127.0.0.1";

/** First port of each role; 0 picks free ports. */
export interface PortBases {
  /** NATS client port. */
  nats: number;
  /** NATS cluster route port. */
  route: number;
  /** NATS monitoring (HTTP) port. */
  monitor: number;
  /** Sluice HTTP API port. */
  http: number;
}

/** Defaults of `scripts/cluster.ts up`: away from a single node's 4222/6222/8222/8080. */
export const DEFAULT_PORT_BASES: Readonly<PortBases> = Object.freeze({ nats: 4311, route: 6311, monitor: 8311, http: 8181 });

type PortRole = keyof PortBases;
const PORT_ROLES: readonly PortRole[] = ["nats", "route", "monitor", "http"];
/** The highest TCP port. */
export const PORT_MAX = 65535;

/** The ports of server/node i. */
export type ServerPorts = PortBases;

function listenOn(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ port, host: LOOPBACK_HOST, exclusive: true }, () => resolve(server));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * Ports for `count` servers. Free ports are held open until all are chosen, so no two
 * roles get the same one; the kernel may still hand one to someone else before our
 * child binds it, which the child's start then reports.
 */
export async function allocatePorts(count: number, bases: PortBases): Promise<ServerPorts[]> {
  const held: Server[] = [];
  try {
    const table: ServerPorts[] = Array.from({ length: count }, () => ({ nats: 0, route: 0, monitor: 0, http: 0 }));
    for (const role of PORT_ROLES) {
      const base = bases[role];
      if (base !== 0 && (base < 1 || base + count - 1 > PORT_MAX)) throw new ClusterError("bad_options", `${role} ports ${base}..${base + count - 1} are outside 1..${PORT_MAX}`);
      for (let index = 0; index < count; index++) {
        const wanted = base === 0 ? 0 : base + index;
        let server: Server;
        try {
          server = await listenOn(wanted);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          throw new ClusterError("port_taken", `${role} port ${wanted} of server ${index + 1} is not free on ${LOOPBACK_HOST} (${code}); stop what uses it or pick other ports`, { cause: error });
        }
        held.push(server);
        table[index][role] = (server.address() as { port: number }).port;
      }
    }
    return table;
  } finally {
    await Promise.all(held.map(close));
  }
}
