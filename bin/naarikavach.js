#!/usr/bin/env node
// The package's `bin`: runs the TypeScript CLI through tsx's loader (no build step).
import { register } from 'tsx/esm/api'

register()
await import('../src/cli/index.ts')
