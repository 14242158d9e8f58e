/**
 * The audience API as the builder uses it. The app holds no data of its own: every
 * call carries the one key it was given, so it sees only that key's tenant.
 */
import type { Json, JsonObject } from "./rule";

export interface ErrorDetail {
  location?: string;
  path: string;
  message: string;
  suggestion?: string | null;
}

/** A refusal in the API's one error shape (`{"message", "errors": [...]}`). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors: ErrorDetail[],
  ) {
    super(message);
  }
}

export interface ConditionType {
  name: string;
  label: string;
  description: string;
  category: string;
  schema: JsonObject;
  examples: JsonObject[];
}

export interface Estimate {
  estimate: number;
  low: number;
  high: number;
  confidence: number;
  exact: boolean;
  sample_size: number;
  population: number;
}

export interface SegmentSummary {
  id: string;
  name: string;
  type: string;
  version: number;
}

export class Api {
  constructor(
    readonly base: string,
    readonly key: string,
  ) {}

  async call<T>(method: string, path: string, body?: Json, signal?: AbortSignal): Promise<T> {
    const response = await fetch(new URL(path, this.base.endsWith("/") ? this.base : `${this.base}/`), {
      method,
      signal,
      headers: { "x-api-key": this.key, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let payload: unknown = null;
    try {
      payload = text ? JSON.parse(text) : null;
    } catch {
      throw new ApiError(response.status, `${method} ${path}: the API answered ${response.status} with no JSON`, []);
    }
    if (!response.ok) {
      const shaped = (payload ?? {}) as { message?: string; errors?: ErrorDetail[] };
      throw new ApiError(response.status, shaped.message ?? `${method} ${path}: ${response.status}`, shaped.errors ?? []);
    }
    return payload as T;
  }

  async conditionTypes(): Promise<ConditionType[]> {
    return (await this.call<{ condition_types: ConditionType[] }>("GET", "condition-types")).condition_types;
  }

  async segments(): Promise<SegmentSummary[]> {
    return (await this.call<{ segments: SegmentSummary[] }>("GET", "segments")).segments;
  }

  estimate(rule: Json, signal: AbortSignal): Promise<Estimate> {
    return this.call<Estimate>("POST", "rules/estimate", { rule }, signal);
  }

  save(segment: JsonObject): Promise<SegmentSummary> {
    return this.call<SegmentSummary>("POST", "segments", segment);
  }
}
