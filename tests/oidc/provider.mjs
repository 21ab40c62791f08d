// A real OpenID Connect provider (panva/oidc-provider) on loopback for OneMap's single sign-on tests.
//
// node provider.mjs  with env:
//   OIDC_PORT          port to listen on (127.0.0.1)
//   OIDC_REDIRECT_URI  the OneMap callback (http://127.0.0.1:<app port>/auth/oidc/callback)
//   OIDC_CLIENT_ID, OIDC_CLIENT_SECRET
// Accounts (user name / password / roles claim) are in ACCOUNTS below. The sign-in page is this
// file's own minimal form (the library's development pages load web fonts from the internet,
// which the air-gapped test browser refuses); consent is implied for the one first-party client.
import http from 'node:http';
import { URLSearchParams } from 'node:url';
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT || 0);
const issuer = `http://127.0.0.1:${port}`;
const ACCOUNTS = {
  'sso-dispatcher': { password: 'sso-pass-1', claims: { name: 'SSO Dispatcher', email: 'sso-dispatcher@example.org', roles: ['dispatcher'] } },
  'sso-chief': { password: 'sso-pass-2', claims: { name: 'SSO Chief', email: 'sso-chief@example.org', roles: ['leadership', 'planner'] } },
  'sso-nobody': { password: 'sso-pass-3', claims: { name: 'No Role', email: 'nobody@example.org', roles: [] } },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.OIDC_CLIENT_ID || 'onemap',
    client_secret: process.env.OIDC_CLIENT_SECRET || 'onemap-secret',
    redirect_uris: [process.env.OIDC_REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email'], roles: ['roles'] },
  scopes: ['openid', 'profile', 'email', 'roles'],
  cookies: { keys: ['onemap-test-cookie-key'] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const acc = ACCOUNTS[sub];
    if (!acc) return undefined;
    return { accountId: sub, async claims() { return { sub, preferred_username: sub, ...acc.claims }; } };
  },
  async loadExistingGrant(ctx) {  // first-party client: every requested scope and claim is granted
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid profile email roles');
    await grant.save();
    return grant;
  },
});
provider.proxy = false;

const page = (uid, error) => `<!doctype html><html><head><meta charset="utf-8"><title>City SSO</title></head><body>
<h1>City identity provider</h1>${error ? `<p id="error">${error}</p>` : ''}
<form method="post" action="/interaction/${uid}/login">
<label>User <input name="login" id="login" autocomplete="off"></label>
<label>Password <input name="password" id="password" type="password"></label>
<button type="submit" id="submit">Sign in</button></form></body></html>`;

const readBody = (req) => new Promise((resolve) => {
  let data = '';
  req.on('data', (c) => { data += c; });
  req.on('end', () => resolve(new URLSearchParams(data)));
});

const callback = provider.callback();
const server = http.createServer(async (req, res) => {
  const m = req.url.match(/^\/interaction\/([^/?]+)(\/login)?/);
  if (!m) return callback(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end(page(details.uid));
    }
    const body = await readBody(req);
    const acc = ACCOUNTS[body.get('login')];
    if (!acc || acc.password !== body.get('password')) {
      res.writeHead(401, { 'content-type': 'text/html; charset=utf-8' });
      return res.end(page(details.uid, 'wrong user or password'));
    }
    return provider.interactionFinished(req, res, { login: { accountId: body.get('login') } },
      { mergeWithLastSubmission: false });
  } catch (err) {
    res.writeHead(400, { 'content-type': 'text/plain' });
    return res.end(String(err));
  }
});
server.listen(port, '127.0.0.1', () => { console.log(`oidc-provider listening on ${issuer}`); });
