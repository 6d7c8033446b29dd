import type {ServerResponse} from 'node:http'
import type {Listener} from './poller.js'
import type {RoomSnapshot, RoomUpdate} from './room.js'

/** How long the browser waits before reconnecting a dropped stream (the `retry:` field). */
export const RETRY_MS = 1500
/** A page whose connection takes no more than this many unsent bytes is dropped; it reconnects and catches up by Last-Event-ID. */
const MAX_BACKLOG = 16 * 1024 * 1024

/**
 * One page's event stream (text/event-stream). Every event carries `id:` = the last events
 * row it covers; the browser sends it back as Last-Event-ID when it reconnects. `sentId` is
 * how far this page is: output at or below it is never sent twice (a page that caught up
 * from the store can be ahead of the poller).
 */
export class SseClient implements Listener {
  private sentId = 0

  constructor(private readonly res: ServerResponse) {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    })
    res.write(`retry: ${RETRY_MS}\n\n`)
  }

  snapshot(s: RoomSnapshot): void {
    this.send('snapshot', s.id, {id: s.id, report: s.report, steps: s.steps})
  }

  update(u: RoomUpdate): void {
    const output = u.output?.filter((o) => o.id > this.sentId)
    this.send('update', Math.max(u.id, this.sentId), output === u.output ? u : {...u, output})
  }

  keepAlive(): void {
    if (!this.res.writableEnded) this.res.write(': keep-alive\n\n')
  }

  private send(event: string, id: number, data: unknown): void {
    if (this.res.writableEnded || this.res.destroyed) return
    this.sentId = Math.max(this.sentId, id)
    // JSON has no raw newlines, so the data is one `data:` line.
    this.res.write(`id: ${this.sentId}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
    if (this.res.writableLength > MAX_BACKLOG) this.res.destroy()
  }
}
