import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The suite starts real daemons and child processes; two cores cannot take more.
    maxWorkers: 2,
    globalSetup: ['test/helpers/global-setup.ts'],
  },
})
