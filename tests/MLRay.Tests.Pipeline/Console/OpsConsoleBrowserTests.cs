using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using MLRay.Deploy;
using MLRay.Emulators.Seed;
using MLRay.Receiver.Console;
using MLRay.Tests.Broker;
using OpenQA.Selenium;

namespace MLRay.Tests.Pipeline.OpsConsole;

/// <summary>
/// The ops console in a real browser (Debian's headless Chromium through Selenium) against the emulators, the real
/// broker, a receiver and workers: what an operator sees and clicks. Screenshots: <see cref="ConsoleBrowser.ScreenshotDir"/>.
/// </summary>
[Collection("broker")]
public sealed class OpsConsoleBrowserTests(RabbitMqBroker broker)
{
    private const string Py39 = ConsoleWorld.Py39;
    private const string Py312 = ConsoleWorld.Py312;
    private const string ArmModel = ConsoleWorld.ArmModel;

    private static void LogIn(ConsoleBrowser browser, ConsoleWorld world)
    {
        browser.Go(world.ConsoleUri);
        browser.WaitFor(d => d.Url.Contains(OpsConsoleExtensions.LoginPath), "sent to the login form");
        browser.Find("#token").SendKeys(PipelineWorld.OpsToken + Keys.Enter);   // the keyboard alone
        WaitForLive(browser);
    }

    /// <summary>The page's event stream applied its first update (which redraws each cell once: its forms get the stream's token).</summary>
    private static void WaitForLive(ConsoleBrowser browser) =>
        browser.WaitFor(d => d.FindElement(By.TagName("body")).GetAttribute("data-live") == "on", "the first live update");

    private static string Status(IWebDriver driver, string cell) => driver.FindElement(By.CssSelector(cell)).GetAttribute("data-status") ?? "";

    [Fact]
    public async Task An_operator_sees_the_arm_catboost_11_cell_dead_lettered_replays_it_after_the_fix_and_watches_it_run_without_reloading()
    {
        await using var world = await ConsoleWorld.StartAsync(broker, topLevelKeys: "retry: {attempts: 2, delays: [1s]}");
        await world.Pipeline.StartWorkerAsync([Py39, Py312]);
        using var browser = new ConsoleBrowser("replay");

        // A wrong token: the form again, saying so, and no way in.
        browser.Go(world.ConsoleUri);
        browser.WaitFor(d => d.Url.Contains(OpsConsoleExtensions.LoginPath), "sent to the login form");
        browser.Find("#token").SendKeys("not-the-token");
        browser.Find("#login").Click();
        browser.WaitFor(d => d.FindElement(By.Id("login-error")).Text.Contains("Wrong token."), "the wrong token refused");
        Assert.Empty(browser.FindAll("#matrix"));
        browser.Screenshot("1-wrong-token");
        browser.Find("#token").SendKeys(PipelineWorld.OpsToken + Keys.Enter);
        WaitForLive(browser);

        world.Pipeline.Emulators.RegisterSeed();   // the py39 cluster is aarch64: catboost 1.1 has no wheel there
        var arm = ConsoleBrowser.Cell(Py39, ArmModel);
        browser.WaitFor(d => Status(d, arm) == ModelStatus.DeadLettered, $"{ArmModel} DEAD-LETTERED on {Py39}, live", 120);
        // Pip's words arrive with the letter or the FAILED tag, whichever the page reads first.
        browser.WaitFor(d => d.FindElement(By.CssSelector(arm)).Text.Contains("No matching distribution found for catboost==1.1"), "pip's message in the cell", 30);
        browser.WaitFor(d => Status(d, ConsoleBrowser.Cell(Py39, "iris_classifier-py39-catboost12.staging")) == ModelStatus.Running, "its neighbour RUNNING");
        Assert.Contains(ModelStatus.DeadLettered, browser.Find($"#counts li[data-status='{ModelStatus.DeadLettered}']").Text);
        Assert.Equal("1", browser.Find($"#counts li[data-status='{ModelStatus.DeadLettered}'] strong").Text);
        browser.Screenshot("2-dead-lettered");

        // Ops fix the cause, then replay from the cell; a page that reloaded would lose this marker.
        browser.Driver.ExecuteScript("window.mlrayMarker = 'this page was not reloaded';");
        world.Pipeline.Emulators.Ray39.Options.Architecture = "x86_64";
        browser.Find(arm + " details.replay summary").Click();
        Assert.Contains($"Replay puts version 1 of {ArmModel} back in {Py39}'s queue", browser.Find(arm + " details.replay form p").Text);
        browser.Screenshot("3-replay-confirmation");
        browser.Find(arm + " button.confirm-replay").Click();
        browser.WaitFor(d => d.FindElement(By.Id("results")).Text.Contains($"replayed {ArmModel} version 1"), "the replay's result on the page");
        browser.WaitFor(d => Status(d, arm) == ModelStatus.Running, $"{ArmModel} RUNNING after the replay, live", 120);

        Assert.Equal("this page was not reloaded", browser.Driver.ExecuteScript("return window.mlrayMarker;"));
        Assert.DoesNotContain("No matching distribution", browser.Find(arm).Text);
        Assert.Empty(await world.LetterIdsAsync(Py39));
        browser.Screenshot("4-running-after-replay");

        // The activity page: the worker's reconciles as it reported them, the replay's with its PUT.
        browser.Find($"nav a[href='{OpsConsoleExtensions.ActivityPath}']").Click();
        var replayed = browser.WaitFor(d => d.FindElements(By.CssSelector($"table.activity[data-cluster='{Py39}'] tbody tr"))
            .FirstOrDefault(r => r.Text.Contains($"replay {ArmModel}")), "the replay's reconcile on the activity page")!;
        Assert.Equal("PUT", replayed.FindElement(By.CssSelector("td.put")).Text);
        Assert.Contains($"{ArmModel}/1=", replayed.Text);
        Assert.Matches(@"\d+\.\d{3} s", replayed.Text);
        browser.Screenshot("5-activity");

        // Another site's form posting to the console in the browser that is logged in: refused, and nothing changes.
        var victim = await world.DeadLetterAsync(Py312, "victim.staging");
        await using var evil = await StartOtherSiteAsync(new Uri(world.Pipeline.ReceiverUri!, $"{OpsConsoleExtensions.DeadLettersPath}/{Py312}/purge"), victim.Id);
        browser.Go(new Uri($"http://{ConsoleBrowser.OtherSite}:{new Uri(evil.Urls.First()).Port}/"));
        browser.WaitFor(d => d.Url.StartsWith(world.Pipeline.ReceiverUri!.ToString(), StringComparison.Ordinal), "the other site's form posted to the console");
        browser.Screenshot("6-cross-site-post");
        Assert.DoesNotContain("purged", browser.Driver.PageSource);
        Assert.Equal([victim.Id], await world.LetterIdsAsync(Py312));
        browser.Go(world.ConsoleUri);   // and the session is still there for the operator's own pages
        WaitForLive(browser);   // the overview, still logged in
    }

    /// <summary>A page of another site (a host name Chromium maps to 127.0.0.1) whose form posts itself to <paramref name="target"/>.</summary>
    private static async Task<WebApplication> StartOtherSiteAsync(Uri target, string letterId)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.MapGet("/", () => Results.Content($"""
            <!doctype html><html><body><form id="f" method="post" action="{target}">
            <input name="id" value="{letterId}"><input name="return" value="/ops/"></form>
            <script>document.getElementById('f').submit();</script></body></html>
            """, "text/html"));
        await app.StartAsync();
        return app;
    }

    [Fact]
    public async Task A_rollout_is_shown_at_10_percent_and_promoted_from_the_page()
    {
        await using var world = await ConsoleWorld.StartAsync(broker, py312Extra: "traffic: gateway\nrollout: {steps: [10, 100], interval: 1s, min_requests: 1000000, max_wait: 1h}");
        await world.Pipeline.StartWorkerAsync([Py312]);
        var model = SeedModels.All[0];
        string Tag(string version, string field) => world.Pipeline.Emulators.Mlflow.GetModelVersionTags(model.RegisteredName, version).GetValueOrDefault(MLRayTags.Key(Py312, field)) ?? "";
        SeedModels.Register(world.Pipeline.Emulators.Mlflow, model);
        await PipelineWorld.WaitUntil(() => Tag("1", MLRayTags.Status) == DeployStatus.Running, 90, "version 1 RUNNING through the gateway");
        using var browser = new ConsoleBrowser("rollout");
        LogIn(browser, world);

        // Version 2: smoke test, then 10 %, where it waits (an hour at most) for requests no client sends; a promote needs none.
        SeedModels.Register(world.Pipeline.Emulators.Mlflow, model);
        var cell = ConsoleBrowser.Cell(Py312, model.RegisteredName);
        browser.WaitFor(d => Status(d, cell) == ModelStatus.RollingOut, "the cell ROLLING_OUT, live", 90);
        Assert.Contains("at 10 %", browser.Find(cell).Text);
        Assert.Contains("v2", browser.Find(cell).Text);
        browser.Screenshot("1-overview-rolling-out");

        browser.Find($"nav a[href='{OpsConsoleExtensions.RolloutsPath}']").Click();
        var row = $"tr[data-rollout='{Py312}:{model.RegisteredName}']";
        browser.WaitFor(d => d.FindElement(By.CssSelector(row)).Displayed, "the rollout listed");
        Assert.Equal("10 %", browser.Find(row + " td.weight").Text);
        browser.Find(row + " details.promote summary").Click();
        Assert.Contains("Promote gives version 2 all the unpinned traffic now", browser.Find(row + " details.promote form p").Text);
        browser.Screenshot("2-promote-confirmation");
        browser.Find(row + " button.confirm-promote").Click();
        browser.WaitFor(d => d.FindElement(By.Id("results")).Text.Contains($"asked {Py312} to promote the rollout of {model.RegisteredName} (version 2)"), "the promote's result");
        browser.Screenshot("3-promoted");

        await PipelineWorld.WaitUntil(() => Tag("2", MLRayTags.Status) == DeployStatus.Running, 90, "version 2 RUNNING after the promote");
        browser.Find($"nav a[href='{OpsConsoleExtensions.OverviewPath}']").Click();
        browser.WaitFor(d => Status(d, cell) == ModelStatus.Running && d.FindElement(By.CssSelector(cell)).Text.Contains("v2"), "the cell RUNNING version 2");
        browser.Find($"nav a[href='{OpsConsoleExtensions.RolloutsPath}']").Click();
        browser.WaitFor(d => d.FindElement(By.Id("no-rollouts")).Displayed, "no rollout in progress any more");
    }

    [Fact]
    public async Task Filters_an_unroutable_row_a_cell_page_the_dead_letter_page_folding_and_purge_by_keyboard_and_logging_out()
    {
        await using var world = await ConsoleWorld.StartAsync(broker);
        var mlflow = world.Pipeline.Emulators.Mlflow;
        world.Pipeline.Emulators.RegisterSeed();   // no worker: nothing is deployed
        SeedModels.Register(mlflow, new SeedModel("py310-model", "3.10.4", "3.1.0", "1.2.8"), requirementsOverride: SeedModels.All[0].Requirements);
        // A letter older than its version is about an earlier one (ModelStatusReport), and the emulator's timestamps run a
        // little ahead of the clock when many things are created within a millisecond: the letters come a moment later.
        await Task.Delay(100);
        var longMessage = "pip: No matching distribution found for catboost==1.1\n" + string.Concat(Enumerable.Repeat("Traceback line …\n", 30)) + "END OF RAY'S MESSAGE";
        var letter = await world.DeadLetterAsync(Py39, ArmModel, message: longMessage);
        var other = await world.DeadLetterAsync(Py39, "iris_classifier-py39-catboost12.staging");
        using var browser = new ConsoleBrowser("controls");
        LogIn(browser, world);

        // The unroutable model in a row of its own, with the reason; the ARM model's cell says its letter.
        var unroutable = "tr.unroutable td[data-model='py310-model.staging']";
        Assert.Equal(ModelStatus.Unroutable, browser.Find(unroutable).GetAttribute("data-status"));
        Assert.Contains("no configured cluster serves Python 3.10.4", browser.Find(unroutable).Text);
        Assert.Equal(ModelStatus.DeadLettered, Status(browser.Driver, ConsoleBrowser.Cell(Py39, ArmModel)));
        browser.Screenshot("1-overview");

        // Filter by name, then by status (labelled controls, submitted with the keyboard).
        browser.Find("#f-name").SendKeys("catboost11" + Keys.Enter);
        browser.WaitFor(d => d.Url.Contains("name=catboost11"), "the name filter applied");
        Assert.Equal([ArmModel], browser.FindAll("#matrix-rows tr th[scope='row'] a.model").Select(a => a.Text));
        browser.Find("#f-name").Clear();
        browser.Find($"#f-status option[value='{ModelStatus.NotDeployed}']").Click();
        browser.Find(".filters button").Click();
        browser.WaitFor(d => d.Url.Contains("status=NOT"), "the status filter applied");
        // Both py39 models have a letter (DEAD-LETTERED); only the py312 one is merely not deployed.
        Assert.Equal(["iris_classifier-py312-catboost12.staging"],
            browser.FindAll("#matrix-rows tr th[scope='row'] a.model").Select(a => a.Text));
        Assert.Equal("Status", browser.Find("label[for='f-status']").Text);   // the select is labelled

        // The cell's page: its letter's full message and the attempts section.
        browser.Go(new Uri(world.Pipeline.ReceiverUri!, ConsolePages.CellPath(Py39, ArmModel)));
        browser.WaitFor(d => d.FindElement(By.Id("h-letter")).Displayed, "the cell page");
        Assert.Contains("END OF RAY'S MESSAGE", browser.Find($"div.letter[data-letter='{letter.Id}'] pre").Text);
        Assert.Contains(ModelStatus.DeadLettered, browser.Find("#cell-status").Text);
        browser.Screenshot("2-cell-page");

        // The dead letters, oldest first; Ray's message folded until clicked.
        browser.Find($"nav a[href='{OpsConsoleExtensions.DeadLettersPath}']").Click();
        browser.WaitFor(d => d.FindElement(By.CssSelector($"table.letters[data-cluster='{Py39}']")).Displayed, "the dead-letter page");
        Assert.Equal([letter.Id, other.Id], browser.FindAll($"table.letters[data-cluster='{Py39}'] tr[data-letter]").Select(r => r.GetAttribute("data-letter")));
        var message = $"tr[data-letter='{letter.Id}'] details.message";
        Assert.False(browser.Find(message + " pre").Displayed);
        browser.Find(message + " summary").Click();
        Assert.True(browser.Find(message + " pre").Displayed);
        Assert.Contains("END OF RAY'S MESSAGE", browser.Find(message + " pre").Text);
        browser.Screenshot("3-dead-letters");

        // Purge with the keyboard: open the confirmation, tab to its button, press Enter.
        browser.Find($"tr[data-letter='{other.Id}'] details.purge summary").SendKeys(Keys.Enter);
        Assert.Contains($"Purge removes letter {other.Id}", browser.Find($"tr[data-letter='{other.Id}'] details.purge form p").Text);
        browser.Driver.SwitchTo().ActiveElement().SendKeys(Keys.Tab);
        Assert.Equal("Confirm purge", browser.Driver.SwitchTo().ActiveElement().Text);
        browser.Driver.SwitchTo().ActiveElement().SendKeys(Keys.Enter);
        browser.WaitFor(d => d.FindElement(By.Id("results")).Text.Contains($"purged iris_classifier-py39-catboost12.staging version 1 (letter {other.Id})"), "the purge's result");
        Assert.Equal([letter.Id], await world.LetterIdsAsync(Py39));
        browser.Screenshot("4-purged");

        // The activity page says what it keeps (no worker ran here); logging out ends the session.
        browser.Find($"nav a[href='{OpsConsoleExtensions.ActivityPath}']").Click();
        browser.WaitFor(d => d.Title.StartsWith("Activity", StringComparison.Ordinal), "the activity page");
        Assert.Contains("No reconcile reported since this receiver started.", browser.Find($"#act-{Py39}").FindElement(By.XPath("..")).Text);
        browser.Find("nav form button").Click();
        browser.WaitFor(d => d.Url.Contains(OpsConsoleExtensions.LoginPath), "the login form after logging out");
        browser.Go(world.ConsoleUri);
        browser.WaitFor(d => d.Url.Contains(OpsConsoleExtensions.LoginPath), "the overview asks for the token again");
    }

    [Fact]
    public async Task A_cell_the_operator_is_in_keeps_still_while_it_changes_and_is_redrawn_once_left()
    {
        await using var world = await ConsoleWorld.StartAsync(broker);
        world.Pipeline.Emulators.RegisterSeed();   // no worker: the letter below is all that happens to the ARM model
        await Task.Delay(100);   // the letter a moment after its version (see the test above)
        var letter = await world.DeadLetterAsync(Py39, ArmModel);
        using var browser = new ConsoleBrowser("busy-cell");
        LogIn(browser, world);
        var arm = ConsoleBrowser.Cell(Py39, ArmModel);
        browser.WaitFor(d => Status(d, arm) == ModelStatus.DeadLettered, "the ARM cell DEAD-LETTERED");

        // The operator opens Replay's confirmation; meanwhile the letter goes (purged elsewhere) and a worker reports.
        browser.Find(arm + " details.replay summary").Click();
        await world.Store.PurgeAsync(Py39, new MLRay.Pipeline.Failures.LetterSelection { Ids = [letter.Id] }, CancellationToken.None);
        var events = Events(browser);
        await world.ReportReconcileAsync(Py39);
        browser.WaitFor(_ => Events(browser) > events, "the event after the report");
        Assert.Equal(ModelStatus.DeadLettered, Status(browser.Driver, arm));   // still as the operator opened it
        Assert.True(browser.Find(arm + " details.replay").GetAttribute("open") is not null);

        // Closed and left: the next event redraws it, though that row did not change again.
        browser.Find(arm + " details.replay summary").Click();
        browser.Find("#f-name").Click();   // focus out of the cell
        await world.ReportReconcileAsync(Py39);
        browser.WaitFor(d => Status(d, arm) != ModelStatus.DeadLettered, "the cell redrawn once left");
        Assert.Empty(browser.FindAll(arm + " details.replay"));
    }

    /// <summary>How many overview events the page has applied (console.js counts them on the body).</summary>
    private static int Events(ConsoleBrowser browser) => int.Parse(browser.Driver.FindElement(By.TagName("body")).GetAttribute("data-events-seen") ?? "0");
}
