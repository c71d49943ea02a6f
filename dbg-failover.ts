import { startLocalCluster } from "./scripts/local-cluster/local-cluster.ts";
import { createLogger } from "./src/sdk/index.ts";
const base = "/tmp/dbg-fo"; await Bun.$`rm -rf ${base}`; 
const cluster = await startLocalCluster({ nodes: 3, baseDir: base, shards: 6, extraNodeFlags: ["--seal-age-ms", "500", "--flush-interval-ms", "100"] });
const logger = createLogger({ servers: cluster.nats.map((s) => s.url), service: "dbg", shards: 6, onError: () => undefined });
const t = setInterval(() => { for (let i = 0; i < 10; i++) logger.info("x", { seqno: i }); }, 10);
const url = cluster.nodes[0].httpUrl;
const poll = async (label: string, ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const t0 = performance.now();
    const r = await fetch(`${url}/api/v1/cluster`).then((r) => r.json()).catch((e) => ({ error: String(e) }));
    const dt = Math.round(performance.now() - t0);
    console.log(new Date().toISOString(), label, dt + "ms", JSON.stringify(r.shards?.map((s: any) => s.owner)), "moves", JSON.stringify(r.moves?.map((m: any) => `${m.shard}:${m.from}->${m.to}`)), JSON.stringify(r.nodes?.map((n: any) => `${n.id}:${n.alive ? "A" : "D"}:${n.last_seen_ms}`)));
    await Bun.sleep(200);
  }
};
await poll("before", 3000);
for (let round = 0; round < 3; round++) {
  console.log(new Date().toISOString(), "KILL node-3");
  await cluster.killNode(2);
  await poll("after", 12000);
  await cluster.restartNode(2);
  await poll("restarted", 8000);
}
clearInterval(t);
await logger.close();
await cluster.stop();
