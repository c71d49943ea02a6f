// The catalog of a dataset: services, their popularity and hosts. Derived from the seed alone.

import { Random, randomHex } from "./random.ts";

/** Services in the catalog. */
export const SERVICE_COUNT = 300;
const REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1", "ap-northeast-1"];
const SERVICE_DOMAINS = ["payment", "checkout", "auth", "user", "inventory", "search", "catalog", "cart", "order", "shipping", "billing", "notification", "email", "sms", "recommendation", "pricing", "fraud", "ledger", "gateway", "session", "profile", "media", "upload", "thumbnail", "geo", "analytics", "reporting", "audit", "config", "feature-flags", "identity", "invoice", "refund", "loyalty", "coupon", "review", "rating", "warehouse", "fulfillment", "tracking"];
const SERVICE_ROLES = ["service", "api", "worker", "consumer", "scheduler", "cache", "proxy", "sync"];
const BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz";

export interface Catalog {
  /** Service names, most popular first. */
  services: string[];
  /** Share of events each service logs (same order), summing to 1. */
  serviceShares: number[];
  /** Each service's hosts (Kubernetes-style pod names). */
  hosts: string[][];
  /** Each service's host's region (same shape as hosts). */
  hostRegions: string[][];
  /** Each service's error factor: how much more (or less) than the usual share of ERROR and FATAL it logs. */
  errorFactors: number[];
}

export function buildCatalog(seed: number): Catalog {
  const random = new Random(seed ^ 0x5eed_ca7a);
  const names = SERVICE_DOMAINS.flatMap((domain) => SERVICE_ROLES.map((role) => `${domain}-${role}`));
  for (let index = names.length - 1; index > 0; index--) {
    const other = random.below(index + 1);
    [names[index], names[other]] = [names[other], names[index]];
  }
  const services = names.slice(0, SERVICE_COUNT);
  // Zipf with exponent 1: the top service logs ~16% of events, the last ~0.05%.
  const weights = services.map((_, rank) => 1 / (rank + 1));
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  const hosts = services.map((service, rank) => {
    const count = Math.max(2, Math.round(80 / Math.sqrt(rank + 1)));
    const replicaSet = randomHex(random, 10);
    return Array.from({ length: count }, () => `${service}-${replicaSet}-${Array.from({ length: 5 }, () => BASE36[random.below(36)]).join("")}`);
  });
  const hostRegions = hosts.map((list) => list.map(() => REGIONS[random.below(REGIONS.length)]));
  const errorFactors = services.map(() => 0.3 + 2.7 * random.float() * random.float());
  return { services, serviceShares: weights.map((weight) => weight / total), hosts, hostRegions, errorFactors };
}
