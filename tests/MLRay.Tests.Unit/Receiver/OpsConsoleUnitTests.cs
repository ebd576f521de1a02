using System.Net;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using MLRay.Receiver.Console;

namespace MLRay.Tests.Unit.Receiver;

/// <summary>The console's pure parts: the view helper's encoding and the login back-off.</summary>
public class OpsConsoleUnitTests
{
    [Fact]
    public void Every_hole_is_html_encoded_text_and_attributes_alike_unless_it_is_markup_already()
    {
        const string hostile = "<script>alert('x')</script>\" onmouseover=\"x";
        var inner = Html.H($"<b>{hostile}</b>");

        var page = Html.H($"<p title=\"{hostile}\">{hostile}{inner}</p>").Value;

        Assert.DoesNotContain("<script>", page);
        Assert.DoesNotContain("\" onmouseover", page);
        Assert.Contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&quot; onmouseover=&quot;x", page);
        Assert.Contains("<b>&lt;script&gt;", page);   // a Markup hole is inserted as it is, once encoded
        Assert.Contains("— é 10 %", Html.H($"{"— é 10 %"}").Value);   // readable text stays readable
    }

    [Fact]
    public void Three_wrong_tokens_are_free_then_each_one_doubles_the_wait_up_to_the_cap_and_a_right_token_clears_it()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var throttle = new LoginThrottle(Options.Create(new OpsConsoleOptions { MaxLoginBackoff = TimeSpan.FromSeconds(4) }), time);
        var client = IPAddress.Parse("192.0.2.7");
        var other = IPAddress.Parse("192.0.2.8");

        var waits = new List<double>();
        for (var i = 0; i < 6; i++)
        {
            throttle.Failed(client);
            waits.Add(throttle.WaitFor(client).TotalSeconds);
            time.Advance(throttle.WaitFor(client));
        }

        Assert.Equal([0, 0, 0, 1, 2, 4], waits);
        throttle.Failed(client);
        Assert.Equal(TimeSpan.FromSeconds(4), throttle.WaitFor(client));   // capped
        Assert.Equal(TimeSpan.Zero, throttle.WaitFor(other));   // per client
        throttle.Succeeded(client);
        Assert.Equal(TimeSpan.Zero, throttle.WaitFor(client));
    }
}
