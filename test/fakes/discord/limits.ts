/**
 * Discord's size limits on what a bot sends, checked the way the real API checks them: a payload over
 * any limit is refused with 400 / code 50035 ("Invalid Form Body"), so a transport that forgets one
 * fails in tests the way it would fail in production.
 */

/** Limits from Discord's API reference (messages, embeds, components, autocomplete, commands). */
export const LIMITS = {
  content: 2000,
  embeds: 10,
  embedTitle: 256,
  embedDescription: 4096,
  embedFields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footerText: 2048,
  authorName: 256,
  /** Sum over every embed of a message: titles, descriptions, field names and values, footers, authors. */
  embedTotal: 6000,
  actionRows: 5,
  buttonsPerRow: 5,
  customId: 100,
  buttonLabel: 80,
  choices: 25,
  choiceName: 100,
  choiceValue: 100,
  commandName: 32,
  commandDescription: 100,
  commandOptions: 25,
} as const;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const len = (v: unknown): number => (typeof v === 'string' ? [...v].length : 0);

/** Every way a message body (create, edit, interaction response data) breaks Discord's limits. */
export function messageViolations(body: unknown): string[] {
  if (!isObject(body)) return [];
  const out: string[] = [];
  if (len(body.content) > LIMITS.content) out.push(`content is ${len(body.content)} > ${LIMITS.content}`);
  const embeds = Array.isArray(body.embeds) ? body.embeds : [];
  if (embeds.length > LIMITS.embeds) out.push(`${embeds.length} embeds > ${LIMITS.embeds}`);
  let total = 0;
  embeds.forEach((embed, i) => {
    if (!isObject(embed)) return;
    const at = `embeds[${i}]`;
    const check = (value: unknown, limit: number, what: string) => {
      total += len(value);
      if (len(value) > limit) out.push(`${at}.${what} is ${len(value)} > ${limit}`);
    };
    check(embed.title, LIMITS.embedTitle, 'title');
    check(embed.description, LIMITS.embedDescription, 'description');
    if (isObject(embed.footer)) check(embed.footer.text, LIMITS.footerText, 'footer.text');
    if (isObject(embed.author)) check(embed.author.name, LIMITS.authorName, 'author.name');
    const fields = Array.isArray(embed.fields) ? embed.fields : [];
    if (fields.length > LIMITS.embedFields)
      out.push(`${at} has ${fields.length} fields > ${LIMITS.embedFields}`);
    fields.forEach((field, j) => {
      if (!isObject(field)) return;
      if (len(field.name) === 0 || len(field.value) === 0) out.push(`${at}.fields[${j}] is empty`);
      check(field.name, LIMITS.fieldName, `fields[${j}].name`);
      check(field.value, LIMITS.fieldValue, `fields[${j}].value`);
    });
  });
  if (total > LIMITS.embedTotal) out.push(`embeds total ${total} characters > ${LIMITS.embedTotal}`);
  const rows = Array.isArray(body.components) ? body.components : [];
  if (rows.length > LIMITS.actionRows) out.push(`${rows.length} action rows > ${LIMITS.actionRows}`);
  rows.forEach((row, i) => {
    if (!isObject(row)) return;
    const items = Array.isArray(row.components) ? row.components : [];
    if (items.length > LIMITS.buttonsPerRow) out.push(`components[${i}] has ${items.length} buttons`);
    for (const item of items) {
      if (!isObject(item)) continue;
      if (len(item.custom_id) > LIMITS.customId) out.push(`custom_id ${String(item.custom_id)} too long`);
      if (len(item.label) > LIMITS.buttonLabel) out.push(`button label ${String(item.label)} too long`);
    }
  });
  return out;
}

/** Every way autocomplete choices break Discord's limits. */
export function choiceViolations(choices: unknown): string[] {
  if (!Array.isArray(choices)) return ['choices missing'];
  const out: string[] = [];
  if (choices.length > LIMITS.choices) out.push(`${choices.length} choices > ${LIMITS.choices}`);
  for (const c of choices) {
    if (!isObject(c)) continue;
    if (len(c.name) < 1 || len(c.name) > LIMITS.choiceName) out.push(`choice name ${String(c.name)} length`);
    if (typeof c.value === 'string' && len(c.value) > LIMITS.choiceValue)
      out.push(`choice value ${c.value} too long`);
  }
  return out;
}

/** Every way a bulk command registration breaks Discord's limits. */
export function commandViolations(commands: unknown): string[] {
  if (!Array.isArray(commands)) return ['commands must be an array'];
  const out: string[] = [];
  const names = new Set<string>();
  for (const c of commands) {
    if (!isObject(c)) continue;
    const name = String(c.name ?? '');
    if (!/^[-_\p{Ll}\p{N}]{1,32}$/u.test(name)) out.push(`command name ${name} is invalid`);
    if (names.has(name)) out.push(`command ${name} registered twice`);
    names.add(name);
    if (len(c.description) < 1 || len(c.description) > LIMITS.commandDescription)
      out.push(`/${name} description length ${len(c.description)}`);
    const options = Array.isArray(c.options) ? c.options : [];
    if (options.length > LIMITS.commandOptions) out.push(`/${name} has ${options.length} options`);
    let optionalSeen = false;
    for (const o of options) {
      if (!isObject(o)) continue;
      const oname = String(o.name ?? '');
      if (!/^[-_\p{Ll}\p{N}]{1,32}$/u.test(oname)) out.push(`/${name} option ${oname} is invalid`);
      if (len(o.description) < 1 || len(o.description) > LIMITS.commandDescription)
        out.push(`/${name} ${oname} description length ${len(o.description)}`);
      // Discord refuses a required option after an optional one.
      if (o.required && optionalSeen) out.push(`/${name} required option ${oname} after an optional one`);
      if (!o.required) optionalSeen = true;
      if (o.autocomplete && Array.isArray(o.choices) && o.choices.length > 0)
        out.push(`/${name} ${oname} has both autocomplete and choices`);
      if (Array.isArray(o.choices)) out.push(...choiceViolations(o.choices));
    }
  }
  return out;
}
