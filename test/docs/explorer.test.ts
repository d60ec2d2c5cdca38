// The interactive API explorer at /api/docs/ in a real browser (Debian's Chromium): it renders,
// accepts `Token <key>` through Authorize, and "Try it out" → "Execute" gets a live 200 from the API.
import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { chromium, type Browser, type Page } from 'playwright-core'
import { buildTestApp } from '../helpers/app.ts'
import { createSos, createUser } from '../helpers/factories.ts'
import { CHROMIUM, requireProgram } from '../helpers/system.ts'

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
/** Generous upper bounds for each wait (failures, not timing assertions). */
const WAIT_MS = 15_000

/** Never downloads a browser: launches the system Chromium (requireProgram has checked it is there). */
async function launch(t: TestContext): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM.path, args: CHROMIUM_ARGS })
  t.after(() => browser.close())
  return browser
}

/** Expands one operation of the explorer, by method and path, and returns its block. */
async function openOperation(page: Page, method: string, path: string) {
  const block = page.locator(`.opblock.opblock-${method}`).filter({ has: page.locator(`.opblock-summary-path[data-path="${path}"]`) })
  await block.waitFor({ timeout: WAIT_MS })
  await block.locator('.opblock-summary').first().click()
  await block.locator('.opblock-body').waitFor({ timeout: WAIT_MS })
  return block
}

test('the API explorer renders, authorizes with a Token and executes a live request', async (t) => {
  if (!requireProgram(t, CHROMIUM)) return
  const { app, apiUrl } = await buildTestApp(t)
  const dispatcher = await createUser(app, 'dispatcher')
  const created = await createSos(app, { name: 'Explorer Victim' })

  const browser = await launch(t)
  const page = await browser.newPage()
  const pageErrors: string[] = []
  page.on('pageerror', (error) => pageErrors.push(error.message))
  const cspViolations: string[] = []
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text())
  })

  const response = await page.goto(`${apiUrl}/api/docs/`)
  assert.equal(response?.status(), 200)
  // Over plain HTTP on a LAN address this directive would send the browser to https:// for the
  // explorer's own assets (a blank page); 127.0.0.1 is exempt, so it is checked on the header.
  assert.doesNotMatch(String(response?.headers()['content-security-policy']), /upgrade-insecure-requests/)
  // The UI has loaded the OpenAPI document and drawn the operations.
  await page.locator('.opblock-summary-path[data-path="/api/get-all-sos/"]').waitFor({ timeout: WAIT_MS })
  assert.match(await page.locator('.info .title').innerText(), /NaariKavach API/)

  // Authorize → TokenAuth → `Token <key>` → Authorize → Close.
  await page.locator('.auth-wrapper button.authorize').click()
  const dialog = page.locator('.dialog-ux .modal-ux')
  await dialog.waitFor({ timeout: WAIT_MS })
  const tokenAuth = dialog.locator('.auth-container').filter({ has: page.locator('h4', { hasText: 'TokenAuth' }) })
  await tokenAuth.locator('input[type="text"]').fill(`Token ${dispatcher.token}`)
  await tokenAuth.locator('button.authorize[type="submit"]').click()
  // Once authorized, the scheme offers "Logout" instead of "Authorize".
  await tokenAuth.locator('button', { hasText: 'Logout' }).waitFor({ timeout: WAIT_MS })
  await dialog.locator('button.btn-done, button.close-modal').first().click()
  await dialog.waitFor({ state: 'detached', timeout: WAIT_MS })

  // GET /api/get-all-sos/ → Try it out → Execute.
  const operation = await openOperation(page, 'get', '/api/get-all-sos/')
  const tryOut = operation.locator('button.try-out__btn')
  if ((await tryOut.count()) > 0 && /try it out/i.test(await tryOut.innerText())) await tryOut.click()
  await operation.locator('button.execute').click()

  // The live response, as the page shows it.
  const live = operation.locator('.live-responses-table .response')
  await live.first().waitFor({ timeout: WAIT_MS })
  assert.equal((await live.locator('.response-col_status').first().innerText()).trim(), '200')
  const body = operation.locator('.live-responses-table .response-col_description pre').first()
  await body.waitFor({ timeout: WAIT_MS })
  const text = await body.innerText()
  assert.match(text, /SOS entries fetched successfully/)
  assert.match(text, /Explorer Victim/)
  assert.match(text, new RegExp(`"room_id": "${created.room_id}"`))

  // The request really carried the token the user entered.
  const curl = await operation.locator('.curl-command').innerText()
  assert.match(curl, new RegExp(`Authorization: Token ${dispatcher.token}`))

  assert.deepEqual(pageErrors, [])
  assert.deepEqual(cspViolations, [])
})
