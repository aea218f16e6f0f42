// Draws every chart of a cnnlab report: each element with data-chart="id" gets the Vega-Lite
// spec of that id from the JSON the report holds. vega-embed's menu saves a chart as PNG or SVG.
(function () {
  'use strict';
  // How many items of data a chart drew (its data marks' items, not axes or legends): a chart
  // that drew none is an empty frame, whatever else it shows. Kept in data-points.
  function dataItems(mark) {
    let count = mark.marktype !== 'group' && mark.role === 'mark' ? mark.items.length : 0;
    for (const item of mark.items || []) {
      for (const child of item.items || []) count += dataItems(child);
    }
    return count;
  }
  const specs = JSON.parse(document.getElementById('cnnlab-charts').textContent);
  const charts = Array.from(document.querySelectorAll('[data-chart]'));
  const drawn = charts.map(function (element) {
    const id = element.dataset.chart;
    const options = {
      renderer: 'canvas',
      downloadFileName: id,
      actions: {export: true, source: false, compiled: false, editor: false},
    };
    return vegaEmbed(element, specs[id], options)
      .then(function (result) {
        element.dataset.points = String(dataItems(result.view.scenegraph().root));
        element.dataset.rendered = 'true';
      })
      .catch(function (error) {
        element.dataset.rendered = 'false';
        element.textContent = 'This chart could not be drawn: ' + error.message;
        console.error('chart ' + id + ': ' + error.message);
      });
  });
  Promise.all(drawn).then(function () {
    document.body.dataset.chartsDone = String(charts.length);
  });
})();
