// Opens a cnnlab report in headless Chromium and checks what a reader would see: the page loads
// with no JavaScript error and no network request, every chart is drawn with its data points (the
// items of its data marks that the page counts into data-points), and the gallery,
// feature-map, filter, saliency and Grad-CAM pictures are real decoded images. Saves a
// screenshot.
//
// usage: node report_browser_test.mjs [--pictures=KIND,...] REPORT.html SCREENSHOT.png [SELECTOR]
// The screenshot shows the top of the page, or the part that starts at SELECTOR. --pictures names
// the kinds of picture the page must hold (default: gallery,featureMaps,filters,saliency,
// gradCam).
// Chromium: $CHROMIUM, else /usr/bin/chromium. puppeteer-core comes from web/node_modules.
import {createRequire} from 'node:module';
import {fileURLToPath, pathToFileURL} from 'node:url';
import path from 'node:path';

const options = process.argv.slice(2).filter((a) => a.startsWith('--'));
const [report, screenshot, selector] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const picturesOption = options.find((o) => o.startsWith('--pictures='));
const expectedPictures = picturesOption ? picturesOption.slice('--pictures='.length).split(',')
                                        : ['gallery', 'featureMaps', 'filters', 'saliency',
                                           'gradCam'];
if (!report || !screenshot) {
  console.error('usage: node report_browser_test.mjs REPORT.html SCREENSHOT.png [SELECTOR]');
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', '..', 'web', 'package.json'));
const puppeteer = require('puppeteer-core');

const failures = [];
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  const page = await browser.newPage();
  await page.setViewport({width: 1400, height: 900});
  const pageUrl = pathToFileURL(path.resolve(report)).href;
  page.on('pageerror', (error) => failures.push(`JavaScript error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') failures.push(`console error: ${message.text()}`);
  });
  page.on('request', (request) => {
    const url = request.url();
    if (url !== pageUrl && !url.startsWith('data:') && !url.startsWith('blob:')) {
      failures.push(`network request: ${url}`);
    }
  });
  await page.goto(pageUrl, {waitUntil: 'load'});
  await page.waitForSelector('body[data-charts-done]', {timeout: 120000});

  const seen = await page.evaluate(() => {
    const charts = Array.from(document.querySelectorAll('[data-chart]'));
    const pictures = (selector) => {
      const images = Array.from(document.querySelectorAll(selector));
      return {
        count: images.length,
        broken: images.filter((img) => !img.complete || img.naturalWidth === 0).length,
      };
    };
    return {
      charts: charts.length,
      undrawn: charts
          .filter((c) => c.dataset.rendered !== 'true' || !c.querySelector('canvas, svg'))
          .map((c) => c.dataset.chart),
      points: Object.fromEntries(charts.map((c) => [c.dataset.chart, Number(c.dataset.points)])),
      gallery: pictures('figure.pic img'),
      featureMaps: pictures('.fm figure.map img'),
      filters: pictures('figure.filter img'),
      saliency: pictures('img[alt="saliency map"]'),
      gradCam: pictures('img[alt="Grad-CAM"]'),
      augmented: pictures('figure.aug img'),
      allImages: pictures('img'),
      scripts: document.querySelectorAll('script[src]').length,
    };
  });
  if (seen.charts < 5) failures.push(`expected at least 5 charts, found ${seen.charts}`);
  if (seen.undrawn.length) failures.push(`charts not drawn: ${seen.undrawn.join(', ')}`);
  const empty = Object.entries(seen.points).filter(([, points]) => !(points > 0));
  if (empty.length) {
    failures.push(`charts that drew no data points: ${empty.map(([id]) => id).join(', ')}`);
  }
  for (const kind of expectedPictures) {
    if (seen[kind].count === 0) failures.push(`no ${kind} pictures`);
  }
  if (seen.allImages.broken) failures.push(`${seen.allImages.broken} pictures failed to decode`);
  if (seen.scripts) failures.push(`${seen.scripts} scripts load from a src`);
  if (selector) {
    const found = await page.$eval(selector, (element) => {
      element.scrollIntoView();
      return true;
    }).catch(() => false);
    if (!found) failures.push(`nothing matches ${selector}`);
  }
  await page.screenshot({path: screenshot, fullPage: false});
  console.log(JSON.stringify(seen));
} finally {
  await browser.close();
}
if (failures.length) {
  for (const failure of failures) console.error(`FAIL ${failure}`);
  process.exit(1);
}
console.log(`OK ${report}: no errors, no network requests; screenshot ${screenshot}`);
