// SPDX-License-Identifier: GPL-2.0
/*
 * A GPIO chip (32 lines) and a PWM chip (2 channels) on a platform device, for the VM
 * check only: Debian's kernel has no gpio-mockup, gpio-sim or PWM test driver, and the
 * check needs a real /dev/gpiochipN and a real /sys/devices/platform/.../pwm/pwmchipN
 * to try the service's sandbox on. Nothing is driven: values are kept in memory.
 */
#include <linux/bitops.h>
#include <linux/gpio/driver.h>
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/pwm.h>

static struct platform_device *pdev;
static unsigned long values, outputs;

static int mock_get(struct gpio_chip *gc, unsigned int off) { return test_bit(off, &values); }
static void mock_set(struct gpio_chip *gc, unsigned int off, int v) { assign_bit(off, &values, v); }
static int mock_get_direction(struct gpio_chip *gc, unsigned int off)
{
	return test_bit(off, &outputs) ? GPIO_LINE_DIRECTION_OUT : GPIO_LINE_DIRECTION_IN;
}
static int mock_input(struct gpio_chip *gc, unsigned int off) { clear_bit(off, &outputs); return 0; }
static int mock_output(struct gpio_chip *gc, unsigned int off, int v)
{
	set_bit(off, &outputs);
	mock_set(gc, off, v);
	return 0;
}

static struct gpio_chip gpio = {
	.label = "ladda-mock",
	.owner = THIS_MODULE,
	.base = -1,
	.ngpio = 32,
	.get = mock_get,
	.set = mock_set,
	.get_direction = mock_get_direction,
	.direction_input = mock_input,
	.direction_output = mock_output,
};

static int mock_apply(struct pwm_chip *chip, struct pwm_device *pwm, const struct pwm_state *state)
{
	return 0;
}

static const struct pwm_ops pwm_ops = { .apply = mock_apply, .owner = THIS_MODULE };
static struct pwm_chip pwm;

static int __init mock_init(void)
{
	int ret;

	pdev = platform_device_register_simple("ladda-mock", -1, NULL, 0);
	if (IS_ERR(pdev))
		return PTR_ERR(pdev);
	gpio.parent = &pdev->dev;
	ret = gpiochip_add_data(&gpio, NULL);
	if (ret)
		goto out_device;
	pwm.dev = &pdev->dev;
	pwm.ops = &pwm_ops;
	pwm.npwm = 2;
	ret = pwmchip_add(&pwm);
	if (ret)
		goto out_gpio;
	return 0;
out_gpio:
	gpiochip_remove(&gpio);
out_device:
	platform_device_unregister(pdev);
	return ret;
}

static void __exit mock_exit(void)
{
	pwmchip_remove(&pwm);
	gpiochip_remove(&gpio);
	platform_device_unregister(pdev);
}

module_init(mock_init);
module_exit(mock_exit);
MODULE_DESCRIPTION("Mock GPIO and PWM chips for the Ladda VM check");
MODULE_LICENSE("GPL");
