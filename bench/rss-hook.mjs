// `node --import bench/rss-hook.mjs ...`: write the process's peak RSS (KiB) to
// $FLEET_BENCH_RSS_FILE when it exits. Used to measure `fleet prepare`'s memory.
import {writeFileSync} from 'node:fs'

const file = process.env.FLEET_BENCH_RSS_FILE
if (file) {
  process.on('exit', () => {
    try {
      writeFileSync(file, String(process.resourceUsage().maxRSS))
    } catch {
      // best effort: the benchmark reports the missing file
    }
  })
}
