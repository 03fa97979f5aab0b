/* benchopt 1.10's result.js was written for plotly.js 2.12, which accepted
 * titles given as plain strings ({title: "..."}, {xaxis: {title: "..."}}).
 * plotly.js 3 and later (the plotly Python package ships 4.x) only read
 * {title: {text: "..."}} and silently drop the string form: the plots lose
 * their titles and axis labels. Rewrite the string form before plotly sees
 * it; with plotly.js 2 the object form is equivalent. */
(function () {
  if (typeof Plotly === "undefined") return;
  var AXES = /^[xy]axis\d*$/;
  function textTitles(layout) {
    if (!layout || typeof layout !== "object") return layout;
    if (typeof layout.title === "string") layout.title = {text: layout.title};
    Object.keys(layout).forEach(function (key) {
      var axis = layout[key];
      if (AXES.test(key) && axis && typeof axis.title === "string") {
        axis.title = {text: axis.title};
      }
    });
    return layout;
  }
  ["newPlot", "react"].forEach(function (name) {
    var original = Plotly[name];
    Plotly[name] = function (div, data, layout, config) {
      return original.call(Plotly, div, data, textTitles(layout), config);
    };
  });
})();
