using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using MLRay.Receiver.Console;

namespace MLRay.Tests.Unit.Receiver;

/// <summary>The console's pure parts: the view helper's encoding, the login back-off and the key ring sessions are sealed with.</summary>
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

    /// <summary>A receiver's Data Protection, as the console configures it, in a container of its own (a process of its own).</summary>
    private static IDataProtector Receiver(string opsToken)
    {
        var services = new ServiceCollection();
        ConsoleAuth.Add(services, opsToken);
        return services.BuildServiceProvider().GetRequiredService<IDataProtectionProvider>().CreateProtector("session");
    }

    [Fact]
    public void Receivers_with_the_same_ops_token_open_each_others_sessions_and_another_token_opens_none()
    {
        var sealedByOne = Receiver("the-ops-token-0123456789abcdef").Protect("ticket"u8.ToArray());

        // Another replica (nothing shared but the token, no key directory) opens it; one with a new token does not.
        Assert.Equal("ticket"u8.ToArray(), Receiver("the-ops-token-0123456789abcdef").Unprotect(sealedByOne));
        Assert.ThrowsAny<CryptographicException>(() => Receiver("a-new-ops-token-0123456789abcdef").Unprotect(sealedByOne));
        Assert.NotEqual(OpsTokenKeyRing.KeyId("a"), OpsTokenKeyRing.KeyId("b"));
        // The ring is read-only: the payload names its one key, and nothing asks to store another.
        Assert.Single(new OpsTokenKeyRing("x").GetAllElements());
        Assert.Throws<InvalidOperationException>(() => new OpsTokenKeyRing("x").StoreElement(new System.Xml.Linq.XElement("key"), "k"));
    }
}
