import http from 'node:http';

export interface SseEvent {
  event: string;
  data: string;
  at: number;
}

/** A minimal SSE client over a real socket (app.inject cannot stream). */
export class SseClient {
  readonly events: SseEvent[] = [];
  status = 0;
  headers: http.IncomingHttpHeaders = {};
  closed = false;
  closedAt = 0;
  private req: http.ClientRequest | null = null;

  static async open(baseUrl: string, token: string): Promise<SseClient> {
    const c = new SseClient();
    await new Promise<void>((resolve, reject) => {
      c.req = http.get(
        `${baseUrl}/v1/agent/stream`,
        { headers: { authorization: `Bearer ${token}` } },
        (res) => {
          c.status = res.statusCode ?? 0;
          c.headers = res.headers;
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buf += chunk;
            let i: number;
            while ((i = buf.indexOf('\n\n')) >= 0) {
              const block = buf.slice(0, i);
              buf = buf.slice(i + 2);
              let event = 'message';
              const data: string[] = [];
              for (const line of block.split('\n')) {
                if (line.startsWith('event: ')) event = line.slice(7);
                else if (line.startsWith('data: ')) data.push(line.slice(6));
              }
              if (data.length) c.events.push({ event, data: data.join('\n'), at: Date.now() });
            }
          });
          res.on('end', () => {
            c.closed = true;
            c.closedAt = Date.now();
          });
          res.on('close', () => {
            c.closed = true;
            c.closedAt ||= Date.now();
          });
          resolve();
        },
      );
      c.req.on('error', reject);
    });
    return c;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
  desired(): { revision: number; state: any }[] {
    return this.events.filter((e) => e.event === 'desired').map((e) => JSON.parse(e.data));
  }

  async waitFor<T>(fn: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = fn();
      if (v) return v;
      if (Date.now() > end)
        throw new Error(`timed out; events: ${JSON.stringify(this.events).slice(0, 2000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): void {
    this.req?.destroy();
  }
}
